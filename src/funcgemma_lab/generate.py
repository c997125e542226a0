"""Grow funcgemma's labelled data with an LLM through Ollama, or offline from templates.

    python tools/generate_test_data.py --out data/raw/generated.jsonl --per-class 50
    python tools/generate_test_data.py --offline --out /tmp/templated.jsonl --per-class 20

Per function (and no-function) and language, it asks for new cases until each quota is
met, keeping only cases that validate and are not near-duplicates of the existing data
(data/raw, data/holdout and the output itself). Appends as it goes: run it again to resume.
"""

from __future__ import annotations

import argparse
import glob
import json
import logging
import random
import sys
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from funcgemma.errors import FuncgemmaError, InvalidRequest
from funcgemma.registry import default_registry
from funcgemma.settings import get_settings

from . import arguments
from .datagen import (
    LANG_NAMES,
    TEMPLATES,
    Deduper,
    Quota,
    _check,
    existing,
    llm_cases,
    template_cases,
)
from .datasets import DataError

log = logging.getLogger("generate")


def _choices(given: str, allowed: list[str], flag: str) -> list[str]:
    """The comma list ``given``, every item one of ``allowed``; else InvalidRequest."""
    items = [item.strip() for item in given.split(",") if item.strip()]
    unknown = [item for item in items if item not in allowed]
    if unknown or not items:
        raise InvalidRequest(f"{flag}: {', '.join(map(repr, unknown)) or 'nothing'} given; "
                        f"choose from {', '.join(allowed)}")
    return items


def execute(args: argparse.Namespace) -> int:
    """Generate as ``args`` say: the exit status; bad arguments and data are one line."""
    try:
        return run(args)
    except (DataError, FuncgemmaError) as exc:
        print(f"generate: {exc}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.generate(ap)
    return execute(ap.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    registry = default_registry()
    # checked before any data is read or any model asked
    names = (_choices(args.functions, [*registry.names, "none"], "--functions")
             if args.functions else [*registry.names, "none"])
    langs = _choices(args.langs, list(LANG_NAMES), "--langs")
    rng = random.Random(args.seed)
    # glob.glob, not Path.glob: it takes absolute patterns too
    paths = [Path(p) for pattern in args.against.split(",") if pattern.strip()
             for p in sorted(glob.glob(pattern.strip()))]
    have = existing([p for p in paths if p.resolve() != args.out.resolve()])
    done = existing([args.out])
    dedupe = Deduper(c.text for c in have + done)
    counts = Counter((c.expected_function, c.lang) for c in done)
    quotas = [Quota(fn if fn != "none" else None, lang, args.per_class)
              for fn in names for lang in langs]
    chat = None
    if not args.offline:
        from funcgemma.backends.ollama import is_ready, make_client

        client = make_client(get_settings())
        ready, why = is_ready(client, [args.model])
        if not ready:
            print(f"generate: {why.rstrip('.')}. Use --offline to expand templates instead.",
                  file=sys.stderr)
            return 2

        def chat(prompt: str) -> str:
            resp = client.chat(model=args.model, messages=[{"role": "user", "content": prompt}],
                               format="json", options={"temperature": 0.9, "seed":
                                                       rng.randrange(1 << 30)})
            return resp.message.content or ""

    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        out = args.out.open("a", encoding="utf-8")
    except OSError as exc:
        raise InvalidRequest(f"cannot write --out {args.out}: {exc.strerror or exc}") from None
    total = sum(max(0, q.count - counts[(q.function, q.lang)]) for q in quotas)
    rejected: Counter[str] = Counter()
    with out, tqdm(total=total, unit="case") as bar:
        for q in quotas:
            need = q.count - counts[(q.function, q.lang)]
            if q.function is None and args.offline:
                continue  # templates cannot write convincing no-function messages
            if args.offline and q.function and not TEMPLATES.get(q.function, {}).get(q.lang):
                log.warning("%s/%s: no templates to expand; skipped", q.function, q.lang)
                continue
            templates = (template_cases(q.function, q.lang, rng) if args.offline and
                         q.function else None)
            attempts = 0
            while need > 0 and attempts < args.max_attempts:
                attempts += 1
                if templates is not None:
                    batch = [next(templates) for _ in range(args.batch)]
                else:
                    assert chat is not None
                    recent = [c.text for c in done[-8:]]
                    batch = llm_cases(chat, q.function, q.lang, registry, args.batch, recent)
                for case in batch:
                    problem = _check(case, registry) or (
                        None if dedupe.is_new(case.text) else "near-duplicate")
                    if problem:
                        rejected[problem] += 1
                        continue
                    dedupe.add(case.text)
                    case.extra["group"] = f"gen-{q.function or 'none'}-{q.lang}-{len(done)}"
                    out.write(json.dumps(case.to_json(), ensure_ascii=False) + "\n")
                    out.flush()
                    done.append(case)
                    need -= 1
                    bar.update(1)
                    if need == 0:
                        break
            if need > 0:
                log.warning("%s/%s: %d short after %d attempts", q.function or "none", q.lang,
                            need, attempts)
    print(f"wrote {args.out}; rejected: {dict(rejected) or 'none'}")
    return 0
