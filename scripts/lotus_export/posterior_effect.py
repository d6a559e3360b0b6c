"""How much taking the VAE posterior mean (lotus-trt) instead of a sample (pipeline.py's
`latent_dist.sample()`) changes a Lotus prediction, on a given checkpoint and image.

    PYTHONPATH=<diffusers>/src python3 -m lotus_export.posterior_effect <checkpoint> <image> \
        [--processing-resolution 768] [--samples 3]

Prints, per sample: the posterior's standard deviation against the latent's magnitude, and the max
and mean absolute difference of the depth map (channel mean of clamp(y / 2 + 0.5), at the network
size) between the mean and the sample. Runs in float32 on the CPU; the full-size model needs ~6 GB."""
import argparse

import numpy as np
import torch
import torch.nn.functional as F


@torch.no_grad()
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("image")
    ap.add_argument("--processing-resolution", type=int, default=768)
    ap.add_argument("--samples", type=int, default=3)
    a = ap.parse_args(argv)

    from PIL import Image

    from .checkpoint import load_checkpoint
    from .graph import TIMESTEP, LotusGraph

    graph = LotusGraph(load_checkpoint(a.checkpoint)).eval()
    rgb = np.array(Image.open(a.image).convert("RGB")).astype(np.float32)
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None] / 127.5 - 1.0
    h, w = x.shape[-2:]
    s = min(a.processing_resolution / w, a.processing_resolution / h)
    x = F.interpolate(x, size=(int(h * s), int(w * s)), mode="bilinear", antialias=True, align_corners=False)
    moments = graph.vae._encode(x)
    mean, logvar = torch.chunk(moments, 2, dim=1)
    std = torch.exp(0.5 * torch.clamp(logvar, -30.0, 20.0))  # DiagonalGaussianDistribution
    noise = torch.randn(1, 4, x.shape[2] // 8, x.shape[3] // 8, generator=torch.Generator().manual_seed(0))

    def depth(latent):
        z = latent * graph.scale
        unet_in = torch.cat([z, noise], dim=1) if graph.generation else z
        pred = graph.unet(unet_in, TIMESTEP, encoder_hidden_states=graph.prompt_embeds,
                          class_labels=graph.class_labels, return_dict=False)[0]
        y = graph.vae.decode(pred / graph.scale, return_dict=False)[0]
        return torch.clamp(y * 0.5 + 0.5, 0, 1).mean(dim=1)[0]

    reference = depth(mean)
    print(f"image {w}x{h} -> network {x.shape[3]}x{x.shape[2]}; posterior std: max {std.max():.3e}, "
          f"mean {std.mean():.3e}; |latent mean|: max {mean.abs().max():.3e}, mean {mean.abs().mean():.3e}")
    generator = torch.Generator().manual_seed(1)
    for i in range(a.samples):
        sample = mean + std * torch.randn(mean.shape, generator=generator)
        d = (depth(sample) - reference).abs()
        print(f"sample {i}: depth |sample - mean| max {d.max():.3e}, mean {d.mean():.3e}")


if __name__ == "__main__":
    main()
