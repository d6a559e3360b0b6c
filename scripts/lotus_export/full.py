"""Full-size Lotus-shaped checkpoint with random weights (SD2-base UNet + SD2 VAE configs), for
measuring export time / size / error at real scale without the real weights.

    python3 -m lotus_export.full /tmp/lotus-full/lotus-depth-g-random [--mode generation]

The text encoder is a 1-layer CLIP with the real hidden size (1024): only its [1, 2, 1024] output is
folded into the graph, so its depth does not change the exported model."""
import argparse
import os

import torch

from .tiny import _write_tokenizer, make_tiny  # noqa: F401 - shared tokenizer writer


def make_full(out_dir, mode="generation", seed=0):
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    make_tiny(out_dir, mode, seed)  # folder layout, tokenizer, scheduler; replaced below
    tok_len = 514
    torch.manual_seed(seed)
    CLIPTextModel(CLIPTextConfig(vocab_size=tok_len, hidden_size=1024, intermediate_size=4096,
                                 num_hidden_layers=1, num_attention_heads=16, max_position_embeddings=77,
                                 bos_token_id=tok_len - 2, eos_token_id=tok_len - 1, pad_token_id=tok_len - 1,
                                 hidden_act="gelu")).save_pretrained(os.path.join(out_dir, "text_encoder"))
    unet = UNet2DConditionModel(  # stabilityai/stable-diffusion-2-base unet/config.json + Lotus changes
        sample_size=64, in_channels=8 if mode == "generation" else 4, out_channels=4,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        block_out_channels=(320, 640, 1280, 1280), layers_per_block=2, attention_head_dim=(5, 10, 20, 20),
        cross_attention_dim=1024, use_linear_projection=True, norm_num_groups=32,
        class_embed_type="projection", projection_class_embeddings_input_dim=4)
    unet.save_pretrained(os.path.join(out_dir, "unet"))
    n_unet = sum(p.numel() for p in unet.parameters())
    del unet
    vae = AutoencoderKL(  # stabilityai/stable-diffusion-2-base vae/config.json
        in_channels=3, out_channels=3, latent_channels=4, down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(128, 256, 512, 512),
        layers_per_block=2, norm_num_groups=32, sample_size=768, scaling_factor=0.18215)
    vae.save_pretrained(os.path.join(out_dir, "vae"))
    n_vae = sum(p.numel() for p in vae.parameters())
    print(f"[full] unet {n_unet / 1e6:.1f}M params, vae {n_vae / 1e6:.1f}M params -> {out_dir}")
    return out_dir


def main(argv=None):
    ap = argparse.ArgumentParser(description="Write a full-size random-weight Lotus-shaped checkpoint.")
    ap.add_argument("output")
    ap.add_argument("--mode", choices=["generation", "regression"], default="generation")
    a = ap.parse_args(argv)
    make_full(a.output, a.mode)


if __name__ == "__main__":
    main()
