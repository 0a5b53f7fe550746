"""Meta-learning, independent of Coqui: parameter selection (adapter presets), episodes, the
functional inner loop, the meta-learner (MAML / FOMAML / Reptile / Meta-SGD) and the meta-gradient
all-reduce across ranks.
"""
