"""Meta-learning, independent of Coqui's models and Trainer (it reads only the `maml` config section): parameter selection (adapter presets), episodes, the
functional inner loop, the meta-learner (MAML / FOMAML / Reptile / Meta-SGD) and the meta-gradient
all-reduce across ranks.
"""
