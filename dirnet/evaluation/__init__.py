"""Evaluation: how accurate and how costly a checkpoint is, per exit policy.

sources: labelled data specs (teacher, synth, public datasets, videos) cut into network crops;
replay: run every loop once and replay each exit policy from the recordings; metrics: 2D/3D errors,
PCK/AUC; report: one evaluation run, its files and tables; plots: the paper's figures; baseline:
MediaPipe Hands on the same crops; benchmark: the generalisation benchmark; tta: test-time rotation
averaging. `python -m dirnet.evaluation` and `python -m dirnet.evaluation.benchmark` are the
commands.
"""
