"""judge/: the real-data digit classifier that scores synthetic digits (fidelity, confidence).

config.py  JudgeConfig
train.py   run(cfg): trained on Ray Train, exported as classifier.safetensors + classifier.json
"""
