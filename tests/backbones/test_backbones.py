import pytest
import torch

from tts_maml.backbones import BACKBONES, VOICE_NAME, GlowTTSBackbone, VitsBackbone, get_backbone
from tts_maml.config import CONFIG_CLASSES, MamlGlowTTSConfig, MamlVitsConfig
from tts_maml.meta.episodes import EpisodeSampler
from tts_maml.meta.learner import MetaLearner, TaskBatch
from tts_maml.meta.parameter_selection import count_parameters, resolve_adapter

torch.set_num_threads(2)
ALGORITHMS = ["maml", "fomaml", "reptile", "metasgd"]


def setup(backbone_cls, phoneme_cache, samples, algorithm="maml", preset="conditioning", seed=0):
    config = backbone_cls.tiny_config(phoneme_cache_path=phoneme_cache)
    config.maml.algorithm = algorithm
    config.maml.inner_steps = 2
    config.maml.n_support = 2
    config.maml.n_query = 2
    config.maml.meta_batch_size = 2
    config.maml.adapter_preset = preset
    backbone = backbone_cls(config)
    torch.manual_seed(seed)
    model = backbone.build_model()
    model.train()
    sampler = EpisodeSampler(samples, 2, 2, seed=0)
    tasks = [
        TaskBatch(e.task, backbone.make_batch(model, e.support), backbone.make_batch(model, e.query))
        for e in sampler.sample(0, 2)
    ]
    learner = backbone.make_learner(model)
    return backbone, model, learner, tasks


BACKBONE_CLASSES = [VitsBackbone, GlowTTSBackbone]


@pytest.mark.parametrize("backbone_cls", BACKBONE_CLASSES, ids=lambda b: b.name)
def test_registry_and_coqui_model_names(backbone_cls):
    config = backbone_cls.tiny_config()
    assert config.model == backbone_cls.name and BACKBONES[config.model] is backbone_cls
    assert isinstance(get_backbone(config), backbone_cls)
    with pytest.raises(ValueError, match="no tts_maml backbone"):
        get_backbone(type("C", (), {"model": "tacotron2"})())


@pytest.mark.parametrize("backbone_cls", BACKBONE_CLASSES, ids=lambda b: b.name)
def test_one_voice_slot(backbone_cls, phoneme_cache, small_samples):
    backbone, model, _, tasks = setup(backbone_cls, phoneme_cache, small_samples)
    assert backbone.config.speakers == [VOICE_NAME] and model.emb_g.weight.shape[0] == 1
    assert torch.equal(tasks[0].support["speaker_ids"], torch.zeros(2, dtype=torch.long))
    config = backbone_cls.tiny_config(speakers=["a", "b"])
    with pytest.raises(ValueError, match="config.speakers"):
        backbone_cls(config)


@pytest.mark.parametrize("backbone_cls", BACKBONE_CLASSES, ids=lambda b: b.name)
def test_batches_come_from_coqui_datasets(backbone_cls, phoneme_cache, small_samples):
    backbone, model, _, tasks = setup(backbone_cls, phoneme_cache, small_samples)
    batch = tasks[0].support
    if backbone_cls is VitsBackbone:
        assert {"tokens", "token_lens", "spec", "mel", "waveform", "spec_lens"} <= set(batch)
        assert batch["spec"].shape[1] == model.args.out_channels
    else:
        assert {"text_input", "text_lengths", "mel_input", "mel_lengths"} <= set(batch)
        assert batch["mel_input"].shape[2] == backbone.config.audio.num_mels
    assert len(batch["raw_text"] if "raw_text" in batch else batch["audio_unique_names"]) == 2
    with pytest.raises(ValueError, match="at least one clip"):
        backbone.make_batch(model, [])


@pytest.mark.parametrize("backbone_cls", BACKBONE_CLASSES, ids=lambda b: b.name)
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_one_meta_step_per_algorithm(backbone_cls, algorithm, phoneme_cache, small_samples):
    backbone, model, learner, tasks = setup(backbone_cls, phoneme_cache, small_samples, algorithm)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    buffers = {n: b.clone() for n, b in model.named_buffers()}
    optimizer = torch.optim.Adam(learner.trainable_parameters(), lr=1e-3)
    stats = learner.meta_step(tasks, optimizer, step=0)
    assert not stats.skipped_step and stats.tasks_used == 2
    assert all(map(torch.isfinite, map(torch.tensor, [stats.meta_loss, stats.query_before, *stats.support_losses])))
    changed = {n for n, p in model.named_parameters() if not torch.equal(p.detach(), before[n])}
    adapted = set(learner.adapted)
    assert adapted & changed, "the adapter initialisation must move"
    if algorithm == "reptile":
        assert changed <= adapted  # Reptile meta-learns the adapted tensors only
    else:
        assert changed - adapted, "the base parameters get meta-gradients too"
    for n, b in model.named_buffers():
        assert torch.equal(b, buffers[n])
    if algorithm == "metasgd":
        rates = learner.inner_lr_values()
        assert set(rates) == adapted and any(v != [backbone.config.maml.inner_lr] * 2 for v in rates.values())


@pytest.mark.parametrize("backbone_cls", BACKBONE_CLASSES, ids=lambda b: b.name)
def test_second_order_reaches_parameters_outside_the_adapter_set(backbone_cls, phoneme_cache, small_samples):
    grads = {}
    for algorithm in ("maml", "fomaml"):
        _, model, learner, tasks = setup(backbone_cls, phoneme_cache, small_samples, algorithm)
        torch.manual_seed(1)  # the same random segments and dropout for both runs
        learner.meta_gradient(tasks, step=0)
        grads[algorithm] = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        base = [n for n in grads[algorithm] if n not in learner.adapted]
    differs = [n for n in base if not torch.allclose(grads["maml"][n], grads["fomaml"][n], rtol=1e-4, atol=1e-9)]
    assert differs, "second-order terms must reach non-adapted parameters"


@pytest.mark.parametrize("backbone_cls", BACKBONE_CLASSES, ids=lambda b: b.name)
def test_inner_loop_leaves_the_model_bit_identical(backbone_cls, phoneme_cache, small_samples):
    _, model, learner, tasks = setup(backbone_cls, phoneme_cache, small_samples)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    result = learner.adapt(tasks[0].support, steps=2)
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert set(result.fast) == set(learner.adapted)
    assert any(not torch.equal(result.fast[n], state[n]) for n in result.fast)


@pytest.mark.parametrize("backbone_cls", BACKBONE_CLASSES, ids=lambda b: b.name)
def test_every_preset_resolves_on_the_tiny_model(backbone_cls):
    backbone = backbone_cls(backbone_cls.tiny_config())
    model = backbone.build_model()
    counts = {}
    for name in backbone.presets:
        names = resolve_adapter(model, backbone.presets, name, never=backbone.never_adapt)
        counts[name] = count_parameters(model, names)
    assert counts["speaker_embedding"] < counts["conditioning"] < counts["generator"]
    assert counts["generator"] == sum(p.numel() for n, p in model.named_parameters() if not n.startswith("disc."))


def test_vits_discriminator_is_never_adapted():
    config = VitsBackbone.tiny_config()
    config.model_args.init_discriminator = True
    backbone = VitsBackbone(config)
    model = backbone.build_model()
    assert any(n.startswith("disc.") for n, _ in model.named_parameters())
    for preset in backbone.presets:
        names = resolve_adapter(model, backbone.presets, preset, never=backbone.never_adapt)
        assert not any(n.startswith("disc.") for n in names), preset
    config.maml.target_modules = r".*"
    assert not any(n.startswith("disc.") for n in backbone.adapter_names(model))
    assert not any(n.startswith("disc.") for n in backbone.meta_parameter_names(model))


def test_glow_tts_decoder_affine_is_each_decoder_channel_scale_and_shift():
    # Every decoder layer's per-channel scale and shift (ActNorm, convolution biases, weight-norm gains),
    # none of the convolutions' directions, nothing outside the decoder but the voice slot.
    backbone = GlowTTSBackbone(GlowTTSBackbone.tiny_config())
    model = backbone.build_model()
    names = resolve_adapter(model, backbone.presets, "decoder_affine")
    params = dict(model.named_parameters())
    assert "emb_g.weight" in names and all(n.startswith("decoder.") for n in names if n != "emb_g.weight")
    assert not any(n.endswith("original1") or n.endswith("end.weight") or n.endswith(".weight") and n != "emb_g.weight"
                   for n in names)  # fmt: skip
    assert all(params[n].dim() == 1 or params[n].shape.numel() == max(params[n].shape) for n in names if n != "emb_g.weight")
    decoder_convs = [n for n in params if n.startswith("decoder.") and n.endswith("original1")]
    assert {n.replace("original1", "original0") for n in decoder_convs} <= set(names)
    norms = resolve_adapter(model, backbone.presets, "decoder_norms")
    assert set(norms) < set(names) and count_parameters(model, names) < count_parameters(
        model, resolve_adapter(model, backbone.presets, "decoder"))


def test_glow_tts_actnorm_is_locked():
    backbone = GlowTTSBackbone(GlowTTSBackbone.tiny_config())
    assert backbone.config.data_dep_init_steps == 0
    with pytest.raises(ValueError, match="config.data_dep_init_steps is 10"):
        GlowTTSBackbone(GlowTTSBackbone.tiny_config(data_dep_init_steps=10))


@pytest.mark.parametrize(
    "make", [MamlVitsConfig, MamlGlowTTSConfig, VitsBackbone.tiny_config, GlowTTSBackbone.tiny_config,
             VitsBackbone.vctk_config, GlowTTSBackbone.vctk_config],
)  # fmt: skip
def test_get_backbone_leaves_the_config_unchanged(make):
    config = make()
    before = config.to_dict()
    backbone = get_backbone(config)
    assert backbone.config is config and config.to_dict() == before
    assert CONFIG_CLASSES[backbone.name] is type(backbone).config_class is type(config)


@pytest.mark.parametrize(
    "backbone_cls, fields, message",
    [
        (VitsBackbone, {"speakers": []}, "config.speakers"),
        (GlowTTSBackbone, {"speakers": []}, "config.speakers"),
        (GlowTTSBackbone, {"use_speaker_embedding": False}, "config.use_speaker_embedding is False"),
        (VitsBackbone, {"use_speaker_embedding": False}, "config.use_speaker_embedding is False"),
    ],
)
def test_a_config_that_would_need_changing_is_refused_by_field(backbone_cls, fields, message):
    config = backbone_cls.tiny_config(**fields)
    before = config.to_dict()
    with pytest.raises(ValueError, match=message):
        backbone_cls(config)
    assert config.to_dict() == before
    config = backbone_cls.tiny_config()
    if "use_speaker_embedding" in config.model_args:  # VITS keeps it there too
        config.model_args.use_speaker_embedding = False
        with pytest.raises(ValueError, match="config.model_args.use_speaker_embedding is False"):
            backbone_cls(config)


@pytest.mark.parametrize("backbone_cls", BACKBONE_CLASSES, ids=lambda b: b.name)
def test_make_learner_is_the_meta_training_learner(backbone_cls):
    config = backbone_cls.tiny_config()
    config.maml.algorithm = "metasgd"
    backbone = backbone_cls(config)
    model = backbone.build_model()
    learner = backbone.make_learner(model)
    assert isinstance(learner, MetaLearner) and learner.config is config.maml
    assert learner.adapted == backbone.adapter_names(model)
    assert learner.meta_parameters == backbone.meta_parameter_names(model)
    assert learner.inner_lrs is not None and learner.inner_lrs.names == learner.adapted
    assert backbone.make_learner(model, ["emb_g.weight"]).adapted == ["emb_g.weight"]
    # Meta-learning only the adapter's starting values: the outer loop trains the adapted tensors (and
    # Meta-SGD's rates), every other weight stays the base's.
    config.maml.meta_learned = "adapter"
    learner = backbone.make_learner(model)
    assert learner.meta_parameters == learner.adapted == backbone.adapter_names(model)
    assert len(learner.trainable_parameters()) == len(learner.adapted) + len(list(learner.inner_lrs.parameters()))


EXTRA_TERMS = [(VitsBackbone, "synthesis_loss_weight", "loss_synthesis"), (GlowTTSBackbone, "global_variance_weight", "gv_loss")]


def _with_extra_term(backbone_cls, field, key, phoneme_cache, samples, weight=0.5):
    """``(backbone, model, params, batch, term)``: the tiny model with ``maml.<field>`` at ``weight``,
    and the term ``key`` of its task loss on a support batch."""
    backbone, model, _, tasks = setup(backbone_cls, phoneme_cache, samples)
    params = dict(model.named_parameters())
    setattr(backbone.config.maml, field, weight)
    return backbone, model, params, tasks[0].support, backbone.task_losses(model, params, tasks[0].support)[key]


@pytest.mark.parametrize("backbone_cls, field, key", EXTRA_TERMS, ids=lambda v: getattr(v, "name", None))
def test_an_extra_term_adds_its_weighted_value_and_extra_terms_false_leaves_it_out(backbone_cls, field, key,
                                                                                  phoneme_cache, small_samples):  # fmt: skip
    backbone, model, params, batch, term = _with_extra_term(backbone_cls, field, key, phoneme_cache, small_samples)
    assert torch.isfinite(term) and term > 0
    with_term = backbone.task_losses(model, params, batch)
    setattr(backbone.config.maml, field, 0.0)  # the tiny configs' default
    assert getattr(backbone_cls.tiny_config().maml, field) == 0.0
    coqui = backbone.task_losses(model, params, batch)
    assert key not in coqui
    assert torch.allclose(with_term["loss"], coqui["loss"] + 0.5 * term)
    setattr(backbone.config.maml, field, 1.0)
    plain = backbone.task_losses(model, params, batch, extra_terms=False)
    assert key not in plain and torch.allclose(plain["loss"], coqui["loss"])
    with torch.no_grad():  # how `tts-maml evaluate` scores a model: as if the weight were 0
        without = backbone.evaluation_loss(model, extra_terms=False)(params, batch)
        setattr(backbone.config.maml, field, 0.0)
        assert torch.allclose(without, backbone.evaluation_loss(model)(params, batch))


def test_vits_synthesis_path_term_trains_the_path_inference_runs(phoneme_cache, small_samples):
    assert VitsBackbone.vctk_config().maml.synthesis_loss_weight == 1.0
    _, _, params, _, term = _with_extra_term(*EXTRA_TERMS[0], phoneme_cache, small_samples)
    # The term reaches the inverse flow, the decoder and the voice slot, not the posterior encoder.
    # (A new VITS zero-initialises each coupling layer's `post` conv, so nothing before `post`
    # gets a gradient yet, in either path: probe `post` itself.)
    names = ["flow.flows.0.post.weight", "waveform_decoder.conv_pre.bias", "emb_g.weight",
             "posterior_encoder.enc.cond_layer.bias"]  # fmt: skip
    grads = torch.autograd.grad(term, [params[n] for n in names], allow_unused=True)
    assert all(g is not None and g.abs().sum() > 0 for g in grads[:3])
    assert grads[3] is None or grads[3].abs().sum() == 0


def test_glow_tts_global_variance_term_trains_the_synthesis_path_through_the_fast_weights(phoneme_cache, small_samples):
    backbone, model, params, batch, term = _with_extra_term(*EXTRA_TERMS[1], phoneme_cache, small_samples)
    assert torch.equal(backbone.task_losses(model, params, batch)["gv_loss"], term)  # seeded noise
    # The term is computed on the tensors passed in (the inner loop's fast weights), not the module's,
    # and its gradient reaches the inverse decoder and the prior means.
    fast = dict(params, **{"decoder.flows.0.logs": params["decoder.flows.0.logs"] + 0.5})
    assert not torch.equal(backbone.task_losses(model, fast, batch)["gv_loss"], term)
    names = ["decoder.flows.0.logs", "encoder.proj_m.weight"]
    grads = torch.autograd.grad(term, [params[n] for n in names])
    assert all(g.abs().sum() > 0 for g in grads)


def test_glow_tts_floor_noise_dequantises_the_floor_the_same_way_at_every_inner_step(phoneme_cache, small_samples):
    backbone, model, _, tasks = setup(GlowTTSBackbone, phoneme_cache, small_samples)
    params, batch = dict(model.named_parameters()), tasks[0].support
    assert (batch["mel_input"] <= -model.ap.max_norm).any()  # the clips' silences sit on the floor
    coqui = backbone.task_losses(model, params, batch)["loss"]
    backbone.config.maml.floor_noise = 0.5
    noisy = backbone.task_losses(model, params, batch)["loss"]
    assert torch.isfinite(noisy) and not torch.allclose(noisy, coqui)
    assert torch.equal(backbone.task_losses(model, params, batch)["loss"], noisy)  # the batch's seed
    assert torch.allclose(backbone.task_losses(model, params, batch, extra_terms=False)["loss"], coqui)
