"""Fine-tuning funcgemma's router: examples, the PyTorch LoRA loop, and GGUF export.

Needs the `train` extra (`./setup.sh --train`); nothing here is imported at serve time.
"""
