"""Cost of one training step of the generative networks, in process CPU time per image (one thread).

CPU time, unlike wall time, barely changes when other jobs share the cores, so the figures compare across
machines states; wall time per epoch on an idle machine is about CPU time per epoch / threads used.

Usage::

    python benchmarks/generate_step_cost.py                       # the planned 2D networks at 32 px, batch 64
    python benchmarks/generate_step_cost.py --size 64 --images 4708
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results" / "generate_step_cost.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=32, help="generated side length (PneumoniaMNIST's 28 px -> 32)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--images", type=int, default=4708, help="images per epoch (PneumoniaMNIST's training split)")
    parser.add_argument("--steps", type=int, default=4, help="timed steps per network (after one warm-up step)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    from medimg.tasks.generate.diffusion import ConditionalDiffusion, DenoisingLoss
    from medimg.tasks.generate.gan import ConditionalGAN
    from medimg.tasks.generate.gan_step import GANStep
    from medimg.tasks.generate.plan import GeneratePlan

    size = [args.size, args.size]
    plan = GeneratePlan(input_size=size, output_size=size, num_classes=2, class_names=["a", "b"])
    x = torch.rand(args.batch, 1, *size) * 2 - 1
    y = torch.randint(0, 2, (args.batch,))
    gan = ConditionalGAN(plan)
    gan_step = GANStep(gan, plan)
    diffusion_plan = plan.model_copy(update={"network": "diffusion"})
    unet = ConditionalDiffusion(diffusion_plan)
    denoising = DenoisingLoss(diffusion_plan)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=1e-4)

    def diffusion_step() -> None:
        loss = denoising(unet, x, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    rows = []
    for name, step, network in (
        (f"gan (width {plan.base_width})", lambda: gan_step(gan, x, y), gan),
        (f"diffusion (UNet {diffusion_plan.unet_channels})", diffusion_step, unet),
    ):
        step()
        started = time.process_time()
        for _ in range(args.steps):
            step()
        per_image = (time.process_time() - started) / (args.steps * args.batch)
        rows.append(
            {
                "network": name,
                "parameters_m": round(sum(p.numel() for p in network.parameters()) / 1e6, 3),
                "cpu_ms_per_image": round(per_image * 1000, 2),
                "cpu_s_per_epoch": round(per_image * args.images),
            }
        )
    print(f"{'network':34s} {'params (M)':>10s} {'CPU ms/image':>13s} {'CPU s/epoch':>12s}")
    for row in rows:
        print(
            f"{row['network']:34s} {row['parameters_m']:10.3f} {row['cpu_ms_per_image']:13.2f} "
            f"{row['cpu_s_per_epoch']:12d}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    settings = {"size": args.size, "batch": args.batch, "images_per_epoch": args.images, "threads": 1}
    RESULTS.write_text(json.dumps({"settings": settings, "rows": rows}, indent=2) + "\n")
    print(f"written: {RESULTS}")


if __name__ == "__main__":
    main()
