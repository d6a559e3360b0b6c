"""Load a Lotus checkpoint (local diffusers folder or Hugging Face id) and infer its task/mode."""
import json
import os
import re
from dataclasses import dataclass

import torch

TASKS = ("depth", "normal")
MODES = ("generation", "regression")


@dataclass
class LotusCheckpoint:
    source: str
    unet: torch.nn.Module
    vae: torch.nn.Module
    prompt_embeds: torch.Tensor  # [1, 2, hidden]: the empty prompt, [BOS, EOS]
    task: str
    mode: str
    disparity: bool
    random_weights: bool = False  # model_index.json "_lotus_random_weights" (tiny.py, full.py)


def _resolve(source):
    if os.path.isdir(source):
        return source
    if re.fullmatch(r"[\w.-]+/[\w.-]+", source):
        from huggingface_hub import snapshot_download

        try:
            return snapshot_download(source, allow_patterns=[
                "model_index.json", "unet/*", "vae/*", "text_encoder/*", "tokenizer/*", "scheduler/*"])
        except Exception as e:  # noqa: BLE001 - report any hub failure with the id
            raise SystemExit(f"cannot download checkpoint {source!r} from the Hugging Face hub: {e}")
    raise SystemExit(f"checkpoint {source!r} is neither a local directory nor a Hugging Face id (owner/name)")


def infer_from_name(source):
    """Task, mode, disparity from an official-style name (jingheya/lotus-depth-g-v2-1-disparity);
    None for anything the name does not say."""
    name = os.path.basename(os.path.normpath(source)).lower()
    task = next((t for t in TASKS if re.search(rf"(^|[-_]){t}([-_]|$)", name)), None)
    m = re.search(r"(?:depth|normal)[-_]([gd])(?:[-_]|$)", name)
    mode = {"g": "generation", "d": "regression"}[m.group(1)] if m else None
    disparity = True if "disparity" in name else None
    return task, mode, disparity


@torch.no_grad()
def empty_prompt_embedding(path):
    """Lotus encode_prompt('') with padding='do_not_pad': tokens [BOS, EOS] -> [1, 2, hidden]."""
    from transformers import CLIPTextModel, CLIPTokenizer

    tok = CLIPTokenizer.from_pretrained(path, subfolder="tokenizer")
    ids = tok("", padding="do_not_pad", max_length=tok.model_max_length, truncation=True,
              return_tensors="pt").input_ids
    if ids.shape[-1] != 2:
        raise SystemExit(f"empty prompt tokenized to {ids.tolist()}, expected [BOS, EOS]")
    te = CLIPTextModel.from_pretrained(path, subfolder="text_encoder", torch_dtype=torch.float32).eval()
    return te(ids)[0].float()


def load_checkpoint(source, task=None, mode=None, disparity=None):
    """Load UNet + VAE in float32 (eval) and the folded empty-prompt embedding.

    Explicit task/mode/disparity override what the name says; mode must agree with the UNet's
    in_channels (8 = generation, concat(rgb_latent, noise); 4 = regression)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel

    path = _resolve(source)
    unet = UNet2DConditionModel.from_pretrained(path, subfolder="unet", torch_dtype=torch.float32).eval()
    vae = AutoencoderKL.from_pretrained(path, subfolder="vae", torch_dtype=torch.float32).eval()

    n_task, n_mode, n_disp = infer_from_name(source)
    ch_mode = {8: "generation", 4: "regression"}.get(unet.config.in_channels)
    if ch_mode is None:
        raise SystemExit(f"unet in_channels={unet.config.in_channels}: not a Lotus UNet (expected 8 or 4)")
    mode = mode or n_mode or ch_mode
    if mode != ch_mode:
        raise SystemExit(f"mode {mode!r} contradicts unet in_channels={unet.config.in_channels} ({ch_mode})")
    task = task or n_task
    if task is None:
        raise SystemExit(f"cannot infer the task from {source!r}: pass --task depth|normal")
    if disparity is None:
        disparity = bool(n_disp)
    if task == "normal" and disparity:
        raise SystemExit("--disparity only applies to depth models")
    if unet.config.class_embed_type != "projection" or unet.config.projection_class_embeddings_input_dim != 4:
        raise SystemExit("unet has no 4-dim projection class embedding (the Lotus task switcher)")

    return LotusCheckpoint(source=source, unet=unet, vae=vae, prompt_embeds=empty_prompt_embedding(path),
                           task=task, mode=mode, disparity=disparity, random_weights=marked_random(path))


def marked_random(path):
    """True when the checkpoint says its weights are random (our generators write the marker)."""
    try:
        with open(os.path.join(path, "model_index.json")) as f:
            return json.load(f).get("_lotus_random_weights") is True
    except (OSError, ValueError):
        return False
