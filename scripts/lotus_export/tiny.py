"""Tiny Lotus-shaped checkpoints built from the real diffusers/transformers classes.

Same layout and code paths as the official jingheya/lotus-* repos (model_index.json, unet/, vae/,
text_encoder/, tokenizer/, scheduler/), random weights from fixed seeds, a few MB each. Used for the
committed test fixtures and the pytest suite; no download needed.
"""
import argparse
import json
import os

import torch

# Byte-level BPE alphabet of CLIP (GPT-2's bytes_to_unicode), so the tokenizer handles any text.
def _bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def _write_tokenizer(path):
    from transformers import CLIPTokenizer

    os.makedirs(path, exist_ok=True)
    chars = _bytes_to_unicode()
    tokens = chars + [c + "</w>" for c in chars] + ["<|startoftext|>", "<|endoftext|>"]
    with open(os.path.join(path, "vocab.json"), "w") as f:
        json.dump({t: i for i, t in enumerate(tokens)}, f, ensure_ascii=False)
    with open(os.path.join(path, "merges.txt"), "w") as f:
        f.write("#version: 0.2\n")  # no merges: every character is its own token
    tok = CLIPTokenizer(os.path.join(path, "vocab.json"), os.path.join(path, "merges.txt"),
                        pad_token="<|endoftext|>", model_max_length=77)
    tok.save_pretrained(path)
    return tok


def make_tiny(out_dir, mode="generation", seed=0):
    """Write a tiny checkpoint; mode 'generation' (UNet in_channels 8) or 'regression' (4)."""
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    if mode not in ("generation", "regression"):
        raise ValueError(f"mode must be generation or regression, got {mode!r}")
    os.makedirs(out_dir, exist_ok=True)
    tok = _write_tokenizer(os.path.join(out_dir, "tokenizer"))

    torch.manual_seed(seed)
    text_cfg = CLIPTextConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                              num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=77,
                              bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                              pad_token_id=tok.pad_token_id, hidden_act="gelu")
    CLIPTextModel(text_cfg).eval().save_pretrained(os.path.join(out_dir, "text_encoder"))

    torch.manual_seed(seed + 1)
    # 3 down blocks -> 2 upsamplers: latents not divisible by 4 take the upsample-size path.
    unet = UNet2DConditionModel(
        sample_size=32,
        in_channels=8 if mode == "generation" else 4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        block_out_channels=(16, 32, 32),
        layers_per_block=1,
        norm_num_groups=8,
        attention_head_dim=(2, 4, 4),
        cross_attention_dim=text_cfg.hidden_size,
        use_linear_projection=True,
        class_embed_type="projection",
        projection_class_embeddings_input_dim=4,
    )
    # Random init leaves some layers zero (conv_out etc. are not zero-inited in diffusers, but
    # make sure every weight carries signal so the test compares something).
    _perturb(unet, seed + 2)
    unet.eval().save_pretrained(os.path.join(out_dir, "unet"))

    torch.manual_seed(seed + 3)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 16, 16, 16),  # 4 blocks -> downsample by 8 like SD's VAE
        layers_per_block=1, norm_num_groups=4, sample_size=64, scaling_factor=0.18215,
    )
    _perturb(vae, seed + 4)
    vae.eval().save_pretrained(os.path.join(out_dir, "vae"))

    DDIMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                  beta_schedule="scaled_linear", prediction_type="sample", clip_sample=False,
                  set_alpha_to_one=False, steps_offset=1,
                  timestep_spacing="trailing").save_pretrained(os.path.join(out_dir, "scheduler"))

    pipe_cls = "LotusGPipeline" if mode == "generation" else "LotusDPipeline"
    _write_model_index(out_dir, pipe_cls)
    _calibrate_output_range(out_dir)
    return out_dir


def _write_model_index(out_dir, pipe_cls):
    with open(os.path.join(out_dir, "model_index.json"), "w") as f:
        json.dump({"_class_name": pipe_cls, "_diffusers_version": "0.30.0",
                   "scheduler": ["diffusers", "DDIMScheduler"],
                   "text_encoder": ["transformers", "CLIPTextModel"],
                   "tokenizer": ["transformers", "CLIPTokenizer"],
                   "unet": ["diffusers", "UNet2DConditionModel"],
                   "vae": ["diffusers", "AutoencoderKL"],
                   # Read by the exporter (lotus.random_weights) and bench_pytorch.py: benchmarks
                   # and the CLI say that these weights are random.
                   "_lotus_random_weights": True}, f, indent=2)


# Largest |prediction| the calibrated decoder gives on the calibration image.
OUTPUT_RANGE = 1.2


@torch.no_grad()
def _calibrate_output_range(out_dir):
    """Scale the VAE decoder's conv_out so that predictions span about [-1.2, 1.2], as a trained
    Lotus decoder's do. Random weights otherwise give |y| of 5 to 20: nearly every pixel clamps to
    0 or 1 (tests would compare little), and float rounding upstream grows with that scale."""
    from .checkpoint import load_checkpoint
    from .graph import LotusGraph

    graph = LotusGraph(load_checkpoint(out_dir)).eval()
    y, x = torch.meshgrid(torch.linspace(-1, 1, 96), torch.linspace(-1, 1, 128), indexing="ij")
    image = torch.stack([x, y, x * y])[None]
    noise = torch.randn(1, 4, 12, 16, generator=torch.Generator().manual_seed(0))
    prediction = graph(image, noise) if graph.generation else graph(image)
    scale = OUTPUT_RANGE / float(prediction.abs().max())
    vae = graph.vae
    vae.decoder.conv_out.weight.mul_(scale)
    vae.decoder.conv_out.bias.mul_(scale)
    vae.save_pretrained(os.path.join(out_dir, "vae"))


@torch.no_grad()
def _perturb(module, seed):
    """Add small noise to every parameter: zero-initialised layers would hide wiring bugs."""
    g = torch.Generator().manual_seed(seed)
    for p in module.parameters():
        p.add_(torch.randn(p.shape, generator=g) * 0.02)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Write a tiny Lotus-shaped diffusers checkpoint.")
    ap.add_argument("output")
    ap.add_argument("--mode", choices=["generation", "regression"], default="generation")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    print(make_tiny(a.output, a.mode, a.seed))


if __name__ == "__main__":
    main()
