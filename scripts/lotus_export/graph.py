"""The exported network: VAE encode -> UNet (t=999, folded prompt + task switcher) -> VAE decode."""
import math

import torch

TIMESTEP = 999


def task_switcher():
    """Lotus infer.py: task_emb = cat(sin([1, 0]), cos([1, 0])) -> [1, 4]."""
    e = torch.tensor([[1.0, 0.0]])
    return torch.cat([torch.sin(e), torch.cos(e)], dim=-1)


class LotusGraph(torch.nn.Module):
    """forward(image [N,3,H,W] in [-1,1], noise [N,4,H/8,W/8] for G) -> decoded prediction [N,3,H,W].

    H, W multiples of 8. One DDIM step with prediction_type 'sample' and scale_model_input the
    identity is x0 = unet output, so the scheduler folds away."""

    def __init__(self, ckpt):
        super().__init__()
        self.unet, self.vae = ckpt.unet, ckpt.vae
        self.generation = ckpt.mode == "generation"
        self.scale = float(ckpt.vae.config.scaling_factor)
        self.register_buffer("prompt_embeds", ckpt.prompt_embeds.clone(), persistent=False)
        self.register_buffer("class_labels", task_switcher(), persistent=False)
        # UNet downsamples the latent by 2**num_upsamplers; see upsample_factor().
        self.up_factor = 2 ** self.unet.num_upsamplers

    def forward(self, image, noise=None):
        n = image.shape[0]
        # latent_dist.mean (the reference samples; we stay deterministic).
        moments = self.vae._encode(image)
        latent = torch.chunk(moments, 2, dim=1)[0] * self.scale
        x = torch.cat([latent, noise], dim=1) if self.generation else latent
        pred = self.unet(
            x, TIMESTEP,
            encoder_hidden_states=self.prompt_embeds.expand(n, -1, -1),
            class_labels=self.class_labels.expand(n, -1),
            return_dict=False,
        )[0]
        return self.vae.decode(pred / self.scale, return_dict=False)[0]

    def trace_size(self, min_side=64):
        """An (H, W) whose latent is NOT divisible by the UNet's up factor, so tracing records the
        general `upsample to the skip's size` path (valid for every H, W multiple of 8)."""
        f = self.up_factor
        lat = max(math.ceil(min_side / 8), f + 1)
        if lat % f == 0:
            lat += 1
        return lat * 8, (lat + 2 if (lat + 2) % f else lat + 1) * 8
