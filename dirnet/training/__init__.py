"""Training: the loop (progressive or end-to-end, `python -m dirnet.training`), its batches (data),
its losses, and the exit gate's REINFORCE training (`python -m dirnet.training.gate`).
"""
