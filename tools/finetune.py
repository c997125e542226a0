"""Fine-tune funcgemma's router (`funcgemma train`): funcgemma_lab.finetune.

    python tools/finetune.py --out runs/router [--epochs 2] [--resume] [--install]
"""

from funcgemma_lab.finetune import main

if __name__ == "__main__":
    raise SystemExit(main())
