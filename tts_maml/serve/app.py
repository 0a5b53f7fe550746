"""The HTTP API of ``tts-maml serve``: Coqui ``tts-server``'s request shapes over many voices.

A Flask app (the framework Coqui's server uses) over a
:class:`~tts_maml.serve.synthesis.MultiVoiceSynthesizer`. The voice is named where Coqui's
server names a speaker, so Coqui's clients and web page work unchanged:

- ``GET|POST /api/tts``: ``text`` and ``speaker_id`` (query, form, or the ``text`` and
  ``speaker-id`` headers); answers a WAV file.
- ``POST /v1/audio/speech`` (OpenAI): JSON ``input``, ``voice``, ``response_format`` (``wav``,
  ``flac``, ``mp3`` or ``pcm``, 16-bit little-endian; default ``mp3`` as OpenAI's); ``model`` and
  ``speed`` are ignored.
- MaryTTS: ``GET /locales``, ``GET /voices`` (``name locale gender`` lines), ``GET|POST
  /process`` (``INPUT_TEXT``, ``VOICE``).
- ``GET /``: a page to pick a voice, type a sentence and listen.
- ``GET /api/voices``: the voices and the refused files (JSON); ``POST /api/reload``: rescan the
  voice folder (a voice copied into it is also found by its first request).

Every synthesis request takes an optional ``seed`` (default: the server's): the same voice, text
and seed always give the same audio. An unknown voice is a 404 whose JSON lists the voices; an
empty or overlong text, a bad seed or format is a 400; anything else that fails is a 500 with the
error, and the server carries on.

Example:
    >>> from tts_maml.serve.app import create_app
    >>> app = create_app(synth)  # doctest: +SKIP
    >>> app.test_client().get("/api/tts?text=Hello&speaker_id=alice").mimetype  # doctest: +SKIP
    'audio/wav'
"""

import io
import logging
import threading
from typing import Any, Dict, Optional
from urllib.parse import parse_qs

import soundfile as sf
from flask import Flask, Response, jsonify, render_template_string, request
from werkzeug.exceptions import HTTPException
from werkzeug.serving import BaseWSGIServer, make_server

from tts_maml.serve.synthesis import BadRequestError, MultiVoiceSynthesizer, UnknownVoiceError

logger = logging.getLogger(__name__)

MIMETYPES = {"wav": "audio/wav", "flac": "audio/flac", "mp3": "audio/mpeg", "pcm": "audio/L16"}

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>tts-maml serve</title>
<style>body{font-family:sans-serif;max-width:40em;margin:3em auto} input[type=text]{width:100%}</style></head>
<body>
<h1>tts-maml serve</h1>
<p>{{ voices|length }} voice(s) over one base model.{% if refused %} Refused: {{ refused|join(", ") }}.{% endif %}</p>
<p><label>Voice <select id="speaker_id">{% for v in voices %}<option value="{{ v }}">{{ v }}</option>{% endfor %}
</select></label></p>
<p><input id="text" type="text" placeholder="Type here..." maxlength="{{ max_chars }}">
<button id="speak">Speak</button></p>
<audio id="audio" controls hidden></audio><p id="message"></p>
<script>
const q = (s) => document.querySelector(s);
function speak(e) {
  e.preventDefault();
  const text = q('#text').value, voice = q('#speaker_id').value;
  if (!text) return;
  q('#message').textContent = 'Synthesizing...'; q('#speak').disabled = true;
  fetch(`/api/tts?text=${encodeURIComponent(text)}&speaker_id=${encodeURIComponent(voice)}`, {cache: 'no-cache'})
    .then(async (res) => { if (!res.ok) throw Error((await res.json()).error || res.statusText); return res.blob(); })
    .then((blob) => { q('#audio').src = URL.createObjectURL(blob); q('#audio').hidden = false; q('#audio').play();
                      q('#message').textContent = ''; })
    .catch((err) => { q('#message').textContent = 'Error: ' + err.message; })
    .finally(() => { q('#speak').disabled = false; });
}
q('#speak').addEventListener('click', speak);
q('#text').addEventListener('keyup', (e) => { if (e.key === 'Enter') speak(e); });
</script></body></html>
"""


def encode(wav: bytes, fmt: str) -> bytes:
    """The WAV file ``wav`` in the format ``fmt`` (one of :data:`MIMETYPES`); ``pcm`` is raw
    16-bit little-endian samples, as Coqui's server sends."""
    if fmt == "wav":
        return wav
    if fmt not in MIMETYPES:
        raise BadRequestError(f"response_format {fmt!r} is not one of {', '.join(MIMETYPES)}")
    samples, rate = sf.read(io.BytesIO(wav), dtype="int16")
    if fmt == "pcm":
        return samples.astype("<i2").tobytes()
    out = io.BytesIO()
    sf.write(out, samples, rate, format=fmt.upper() if fmt == "flac" else "MP3")
    return out.getvalue()


def _seed(value: Any, default: int) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise BadRequestError(f"seed {value!r} is not an integer")


def create_app(synth: MultiVoiceSynthesizer, seed: int = 0) -> Flask:
    """The Flask app serving the voices of ``synth``; ``seed`` is the seed of a request that sends none."""
    app = Flask(__name__)

    def audio(name: Optional[str], text: Optional[str], request_seed: Any, fmt: str = "wav") -> Response:
        if not name:
            raise BadRequestError(f"name a voice (one of: {', '.join(synth.library.names()) or '(none)'})")
        wav = synth.speak(name, text or "", _seed(request_seed, seed))
        return Response(encode(wav, fmt), mimetype=MIMETYPES[fmt])

    @app.errorhandler(UnknownVoiceError)
    def unknown_voice(e: UnknownVoiceError):
        return jsonify(error=str(e), voices=e.voices), 404

    @app.errorhandler(BadRequestError)
    def bad_request(e: BadRequestError):
        return jsonify(error=str(e)), 400

    @app.errorhandler(Exception)
    def failed(e: Exception):
        if isinstance(e, HTTPException):
            return jsonify(error=f"{e.code} {e.name}: {e.description}"), e.code
        logger.exception("request failed")
        return jsonify(error=f"synthesis failed: {e}"), 500

    @app.route("/")
    def index():
        return render_template_string(PAGE, voices=synth.library.names(), refused=list(synth.library.refused),
                                      max_chars=synth.max_chars)  # fmt: skip

    @app.route("/api/tts", methods=["GET", "POST"])
    def api_tts():
        value = lambda header, key: request.headers.get(header) or request.values.get(key)  # noqa: E731
        return audio(value("speaker-id", "speaker_id"), value("text", "text"), value("seed", "seed"))

    @app.route("/api/voices")
    def api_voices():
        return jsonify(voices=synth.library.names(), refused=synth.library.refused)

    @app.route("/api/reload", methods=["POST"])
    def api_reload():
        report = synth.library.reload()
        return jsonify(voices=synth.library.names(), loaded=report.loaded, removed=report.removed,
                       refused=synth.library.refused)  # fmt: skip

    @app.route("/v1/audio/speech", methods=["POST"])
    def openai_speech():
        payload = request.get_json(force=True, silent=True)
        if not isinstance(payload, dict):
            raise BadRequestError('send a JSON object: {"input": TEXT, "voice": NAME, "response_format": "wav"}')
        fmt = str(payload.get("response_format") or "mp3").lower()
        if fmt not in MIMETYPES:
            raise BadRequestError(f"response_format {fmt!r} is not one of {', '.join(MIMETYPES)}")
        return audio(payload.get("voice"), payload.get("input"), payload.get("seed"), fmt)

    @app.route("/locales")
    def mary_locales():
        return Response(f"{synth.language}\n", mimetype="text/plain")

    @app.route("/voices")
    def mary_voices():
        lines = "".join(f"{name} {synth.language} u\n" for name in synth.library.names())
        return Response(lines, mimetype="text/plain")

    @app.route("/process", methods=["GET", "POST"])
    def mary_process():
        values: Dict[str, Any] = dict(request.values.items())
        if request.method == "POST" and not values:  # a client that posts the form without its content type
            values = {k: v[0] for k, v in parse_qs(request.get_data(as_text=True)).items()}
        return audio(values.get("VOICE"), values.get("INPUT_TEXT"), values.get("seed"))

    return app


def start_server(app: Flask, host: str = "127.0.0.1", port: int = 0) -> BaseWSGIServer:
    """Serve ``app`` from a background thread (one thread per request) and return the server:
    ``server.port`` is the port (a free one for ``port=0``), ``server.shutdown()`` stops it."""
    server = make_server(host, port, app, threaded=True)
    threading.Thread(target=server.serve_forever, name="tts-maml-serve", daemon=True).start()
    return server


def serve(synth: MultiVoiceSynthesizer, host: str = "127.0.0.1", port: int = 5002, seed: int = 0) -> None:
    """Serve the voices of ``synth`` on ``host:port`` until interrupted (Ctrl-C)."""
    server = make_server(host, port, create_app(synth, seed), threaded=True)
    logger.info("serving %d voices on http://%s:%d/ (Ctrl-C stops)", len(synth.library.names()), host, server.port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
