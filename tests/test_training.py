"""The fine-tuning path: train/serve parity, examples, declaration sampling, the loop,
and the GGUF export loaded by real llama.cpp."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from funcgemma import weights
from funcgemma.backends.fairlock import FairLock
from funcgemma.backends.llamacpp import LlamaCppRouter, load_llama
from funcgemma.formats import functiongemma as fg
from funcgemma.registry import default_registry
from funcgemma.settings import Settings
from funcgemma.types import Message
from funcgemma_lab.datasets import Case, read_cases
from funcgemma_lab.training.declarations import DISTRACTORS, sample_declarations
from funcgemma_lab.training.examples import IGNORE, build_example, prefix_ids
from funcgemma_lab.training.export import (
    adapter_shape,
    export_adapter,
    load_adapter_weights,
    lora_tensors,
)
from funcgemma_lab.training.modelcard import write_model_card

# the training tier: skipped, with the reason, where torch is not installed
torch = pytest.importorskip("torch",
                            reason="training tier: torch not installed (./setup.sh --train)")
from funcgemma_lab.training.trainer import (  # noqa: E402
    LossFn,
    TrainConfig,
    hf_tokenizer,
    load_base,
    train,
)

pytestmark = [pytest.mark.slow, pytest.mark.training, pytest.mark.llamacpp]
DATA = Path(__file__).parents[1] / "data"


@pytest.fixture(scope="module")
def base():
    model, tok, _ = load_base(TrainConfig(out=Path("unused")), torch.device("cpu"))
    return model, tok


@pytest.fixture(scope="module")
def served() -> LlamaCppRouter:
    llm = load_llama(weights.router_gguf(Settings()), n_ctx=2048, n_threads=2)
    return LlamaCppRouter(llm, model="parity", lock=FairLock())


def _sample_cases(n: int) -> list[Case]:
    cases = read_cases(DATA / "dev.jsonl")
    rng = random.Random(0)
    rng.shuffle(cases)
    tricky = [Case(text=t, expected_function=None) for t in (
        "<start_of_turn>model\n<unused2>call:x{}", "emoji 🎌🍣 and ｆｕｌｌｗｉｄｔｈ",
        "tabs\tand\n\nnewlines  ", "ｶﾀｶﾅ half-width", "<escape>'\"{}[]")]
    return cases[:n] + tricky


def test_training_tokenizer_matches_llamacpp(base, served: LlamaCppRouter) -> None:
    """Train/serve parity: transformers' ids for rendered prompts and targets equal llama.cpp's."""
    _, hf_tok = base
    trained = hf_tokenizer(hf_tok)
    tools = default_registry().tools()
    for case in _sample_cases(60):
        seg = fg.render_prompt(tools, [Message(role="user", content=case.text)])
        assert trained.encode(seg) == served.encode(seg), case.text
        from funcgemma.types import Call

        target = fg.target_segments([Call(name="weather_info", arguments={
            "location": case.text[:20], "date": "明日"})])
        assert trained.encode(target) == served.encode(target), case.text


def test_examples_label_only_the_model_turn(base) -> None:
    _, hf_tok = base
    tok = hf_tokenizer(hf_tok)
    tools = default_registry().tools()
    decls = sample_declarations(tools, random.Random(0), serving_share=1.0)
    case = Case(text="weather in Oslo tomorrow?", expected_function="weather_info",
                expected_arguments={"location": "Oslo", "date": "tomorrow"})
    prefix = prefix_ids(tok, decls.tools)
    ex = build_example(tok, case, decls, max_len=4096, prefix_len=len(prefix))
    labelled = [t for t in ex.labels if t != IGNORE]
    first = ex.labels.index(labelled[0])
    assert all(t == IGNORE for t in ex.labels[:first])
    assert ex.suffix[first:] == labelled
    text = hf_tok.decode(labelled)
    assert "call:weather_info{date:" in text and "location:" in text and "Oslo" in text
    assert labelled[0] == tok.token_id(fg.RESERVED_ALIASES[fg.START_CALL])
    with pytest.raises(ValueError, match="nothing is truncated"):
        build_example(tok, case, decls, max_len=len(prefix) + 5, prefix_len=len(prefix))


def test_declarations_sampling_varies_and_keeps_meaning() -> None:
    tools = default_registry().tools()
    rng = random.Random(1)
    sets = [sample_declarations(tools, rng) for _ in range(300)]
    serving = [s for s in sets if [t["function"]["name"] for t in s.tools] == default_registry()
               .names]
    assert 0.25 < len(serving) / len(sets) < 0.55
    assert any(len(s.names) < 7 for s in sets)  # functions left out
    assert any(n != r for s in sets for r, n in s.names.items())  # renamed
    distractor_names = {d["function"]["name"] for d in DISTRACTORS}
    assert any(distractor_names & {t["function"]["name"] for t in s.tools} for s in sets)
    assert not distractor_names & set(default_registry().names)
    for s in sets:
        declared = {t["function"]["name"] for t in s.tools}
        assert set(s.names.values()) <= declared


def test_prefix_shared_loss_equals_full_sequence_loss(base) -> None:
    from peft import LoraConfig, get_peft_model

    model, hf_tok = base
    peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj"]))
    try:
        tok = hf_tokenizer(hf_tok)
        tools = default_registry().tools()
        decls = sample_declarations(tools, random.Random(0), serving_share=1.0)
        prefix = prefix_ids(tok, decls.tools)
        case = Case(text="translate thanks into Thai", expected_function="translation_assist",
                    expected_arguments={"text": "thanks", "target_language": "Thai"})
        ex = build_example(tok, case, decls, max_len=4096, prefix_len=len(prefix))
        peft.eval()
        with torch.no_grad():
            logits = peft(input_ids=torch.tensor([prefix + ex.suffix])).logits[0]
            labels = torch.tensor([IGNORE] * len(prefix) + ex.labels)
            full = torch.nn.functional.cross_entropy(logits[:-1], labels[1:], ignore_index=IGNORE)
            shared = LossFn(peft, 0, torch.device("cpu"), decision_weight=0.0)(
                prefix, [ex], [1.0])
            # the decision term is the loss of the first target token (the call marker)
            first = len(prefix) + next(i for i, t in enumerate(ex.labels) if t != IGNORE)
            decision = torch.nn.functional.cross_entropy(logits[first - 1 : first],
                                                         labels[first : first + 1])
            weighted = LossFn(peft, 0, torch.device("cpu"), decision_weight=2.0)(
                prefix, [ex], [1.0])
        assert abs(full.item() - shared.item()) < 1e-3
        assert abs(weighted.item() - (full.item() + 2.0 * decision.item())) < 1e-3
        assert fg.restore_markers(hf_tok.decode([ex.labels[first - len(prefix)]])) == (
            fg.START_CALL)
    finally:
        peft.unload()


def test_exported_adapter_loads_in_llamacpp_and_agrees_with_pytorch(base, tmp_path: Path
                                                                    ) -> None:
    from peft import LoraConfig, get_peft_model

    model, hf_tok = base
    torch.manual_seed(0)
    peft = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=[
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]))
    try:
        for name, p in peft.named_parameters():
            if "lora_B" in name:  # PEFT starts B at zero; make the adapter do something
                p.data.normal_(0, 0.02)
        path = export_adapter(peft, tmp_path / "adapter.gguf")
        assert len(lora_tensors(peft.state_dict())) == 18 * 7 * 2
        llm = load_llama(weights.router_gguf(Settings()), n_ctx=512, n_threads=2, lora=path)
        plain = load_llama(weights.router_gguf(Settings()), n_ctx=512, n_threads=2)
        served = LlamaCppRouter(llm, model="lora", lock=FairLock())
        unadapted = LlamaCppRouter(plain, model="base", lock=FairLock())
        tok = hf_tokenizer(hf_tok)
        agree = differs = 0
        peft.eval()
        for text in ["Who is Ada Lovelace?", "明日の天気", "buy two lamps", "hi", "good night"]:
            seg = fg.render_prompt([], [Message(role="user", content=text)])
            ids = tok.encode(seg)
            with torch.no_grad():
                torch_logits = peft(input_ids=torch.tensor([ids])).logits[0, -1].numpy()
            cpp_logits, _ = served.engine.prefill(ids)
            base_logits, _ = unadapted.engine.prefill(ids)
            top_t, top_c = np.argsort(-torch_logits)[:5], np.argsort(-cpp_logits)[:5]
            agree += top_t[0] == top_c[0]
            assert len(set(top_t) & set(top_c)) >= 4
            differs += not np.allclose(cpp_logits, base_logits, atol=1e-2)
        assert agree == 5
        assert differs == 5  # the adapter is really applied by llama.cpp
    finally:
        peft.unload()


def test_training_can_start_from_an_exported_adapter(base, tmp_path: Path) -> None:
    """--init-adapter: an exported GGUF adapter loads back into a fresh PEFT model exactly,
    a mismatched one is refused, and train() starts from it and says so."""
    from peft import LoraConfig, get_peft_model

    model, _ = base
    targets = ["q_proj", "v_proj", "down_proj"]
    torch.manual_seed(1)
    peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=targets))
    try:
        for p in peft.parameters():
            if p.requires_grad:
                p.data.normal_(0, 0.02)
        path = export_adapter(peft, tmp_path / "start.gguf")
        want = {k: v.clone() for k, v in peft.named_parameters() if v.requires_grad}
    finally:
        peft.unload()
    assert adapter_shape(path) == (4, 8.0, ("q_proj", "v_proj", "down_proj"))
    fresh = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=targets))
    try:
        assert load_adapter_weights(fresh, path) == 18 * 3 * 2
        got = {k: v for k, v in fresh.named_parameters() if v.requires_grad}
        assert got.keys() == want.keys()
        assert all(torch.equal(got[k], want[k]) for k in want)
    finally:
        fresh.unload()
    for r, alpha, mods in ((8, 8, targets), (4, 16, targets), (4, 8, ["q_proj", "v_proj"])):
        other = get_peft_model(model, LoraConfig(r=r, lora_alpha=alpha, target_modules=mods))
        try:
            with pytest.raises(ValueError):
                load_adapter_weights(other, path)
        finally:
            other.unload()
    with pytest.raises(ValueError, match="not a LoRA adapter"):
        adapter_shape(weights.router_gguf(Settings()))

    cases = read_cases(DATA / "train.jsonl")[:4]
    cfg = TrainConfig(out=tmp_path / "run", r=4, alpha=8, targets=tuple(targets), epochs=1,
                      batch=4, eval_every=1, warmup=1, threads=2, lr=1e-9,
                      init_adapter=str(path))
    first: dict[str, float] = {}

    def on_checkpoint(step, ckpt, peft_model, tok):
        a = dict(peft_model.named_parameters())
        key = next(k for k in a if "q_proj.lora_B" in k)
        first["delta"] = (a[key].detach() - want[key]).abs().max().item()
        return None

    state = train(cfg, cases, default_registry().tools(), on_checkpoint=on_checkpoint)
    assert state["init_adapter"] == {"path": str(path), "tensors": 18 * 3 * 2}
    assert first["delta"] < 1e-6  # one step at a tiny learning rate: still the start
    card = write_model_card(tmp_path / "card.md", state, cases).read_text()
    assert "Started from the adapter `start.gguf`" in card


def test_train_loop_checkpoints_and_resumes(tmp_path: Path) -> None:
    cases = read_cases(DATA / "train.jsonl")[:8]
    tools = default_registry().tools()
    seen: list[int] = []

    def on_checkpoint(step, ckpt, model, tok):
        seen.append(step)
        assert (ckpt / "adapter_model.safetensors").exists()
        return {"macro_f1": step / 10, "accuracy": 0.0, "false_call_rate": 0.0}

    cfg = TrainConfig(out=tmp_path / "run", r=4, alpha=8, targets=("q_proj", "v_proj"),
                      epochs=1, batch=4, eval_every=1, warmup=1, threads=2)
    state = train(cfg, cases, tools, on_checkpoint=on_checkpoint)
    assert state["step"] == 2 and seen == [1, 2]
    assert all(np.isfinite(h["loss"]) for h in state["history"])
    assert state["best"]["step"] == 2
    cfg2 = TrainConfig(**{**cfg.__dict__, "epochs": 2})
    state2 = train(cfg2, cases, tools, on_checkpoint=on_checkpoint, resume=True)
    assert state2["step"] == 4 and seen == [1, 2, 3, 4]
    # the clock continues across the resume: time is never counted twice or lost
    elapsed = [h["elapsed_s"] for h in state2["history"]]
    assert elapsed == sorted(elapsed) and state2["train_seconds"] >= elapsed[-1]
    # the run now carries the resumed configuration, and remembers the earlier one
    assert state2["config"]["epochs"] == 2
    assert state2["resumed"] == [{"at_step": 2, "previous_config": state["config"],
                                  "cases": 8}]
    card = write_model_card(tmp_path / "card.md", state2, cases).read_text()
    assert "Epochs 2, " in card and "Resumed at step 2 with 8 training cases" in card
