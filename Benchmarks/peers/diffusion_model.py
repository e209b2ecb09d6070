#!/usr/bin/env python3
"""A small real diffusion model for the time-aware quantization benchmark: a diffusers
`UNet2DModel` DDPM (0.70 M parameters, 8×8 single-channel) trained on scikit-learn's
bundled 8×8 digits (1 797 images, offline), seeded, on the CPU in a few minutes.

The trained model is cached under Benchmarks/peers/data/diffusion/ (not committed) together
with a fingerprint of the training settings; a cache whose fingerprint differs is retrained.

    python diffusion_model.py [--data-dir DIR] [--retrain]

Data split (seeded permutation of the 1 797 digits): the first 1 500 train the model and
provide the calibration inputs; the other 297 are held out for evaluation only.
Pixels 0…16 are mapped to [−1, 1].

Training: DDPM (T = 1000, linear β 10⁻⁴ → 0.02, ε-prediction), AdamW lr 2·10⁻³ with a cosine
decay, batch 64, 2 000 steps, horizontal flips off (digits are not mirror-symmetric), torch on
ONE thread so that the same seed gives the same weights on any machine (thread count
changes the order of floating-point reductions).
"""
import argparse
import hashlib
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DIR = os.path.join(HERE, "data", "diffusion")

SETTINGS = {
    "model": {
        "sample_size": 8, "in_channels": 1, "out_channels": 1, "layers_per_block": 1, "block_out_channels": [32, 64],
        "down_block_types": ["DownBlock2D", "AttnDownBlock2D"], "up_block_types": ["AttnUpBlock2D", "UpBlock2D"],
        "norm_num_groups": 8, "attention_head_dim": 16,
    },
    "timesteps": 1000, "beta_schedule": "linear", "steps": 2000, "batch": 64, "learning_rate": 2e-3, "seed": 7,
    "train_images": 1500,
}


def fingerprint():
    return hashlib.sha256(json.dumps(SETTINGS, sort_keys=True).encode()).hexdigest()[:16]


def digits():
    """(train, held_out) float32 arrays of shape (n, 1, 8, 8) in [−1, 1], seeded split."""
    import numpy as np
    from sklearn.datasets import load_digits

    images = load_digits().images.astype(np.float32) / 16.0 * 2.0 - 1.0
    order = np.random.default_rng(SETTINGS["seed"]).permutation(len(images))
    images = images[order][:, None, :, :]
    cut = SETTINGS["train_images"]
    return np.ascontiguousarray(images[:cut]), np.ascontiguousarray(images[cut:])


def scheduler():
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=SETTINGS["timesteps"], beta_schedule=SETTINGS["beta_schedule"])


def new_model():
    from diffusers import UNet2DModel

    config = dict(SETTINGS["model"])
    config["down_block_types"] = tuple(config["down_block_types"])
    config["up_block_types"] = tuple(config["up_block_types"])
    config["block_out_channels"] = tuple(config["block_out_channels"])
    return UNet2DModel(**config)


def train(directory, log=print):
    import numpy as np
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(SETTINGS["seed"])
        generator = torch.Generator().manual_seed(SETTINGS["seed"])
        model = new_model()
        noise_schedule = scheduler()
        images = torch.from_numpy(digits()[0])
        optimizer = torch.optim.AdamW(model.parameters(), lr=SETTINGS["learning_rate"])
        steps = SETTINGS["steps"]
        decay = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
        started = time.perf_counter()
        running = None
        model.train()
        for step in range(steps):
            index = torch.randint(0, len(images), (SETTINGS["batch"],), generator=generator)
            clean = images[index]
            noise = torch.randn(clean.shape, generator=generator)
            t = torch.randint(0, SETTINGS["timesteps"], (len(clean),), generator=generator)
            noisy = noise_schedule.add_noise(clean, noise, t)
            loss = torch.nn.functional.mse_loss(model(noisy, t).sample, noise)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            decay.step()
            running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
            if (step + 1) % 250 == 0:
                log(f"  train step {step + 1}/{steps}: loss {running:.4f} ({time.perf_counter() - started:.0f} s)")
        model.eval()
        os.makedirs(directory, exist_ok=True)
        model.save_pretrained(os.path.join(directory, "unet"), safe_serialization=True)
        info = {"fingerprint": fingerprint(), "settings": SETTINGS, "final_loss": running,
                "train_seconds": time.perf_counter() - started, "parameters": int(sum(p.numel() for p in model.parameters())),
                "torch": torch.__version__}
        temporary = os.path.join(directory, "model.json.tmp")
        with open(temporary, "w") as handle:
            json.dump(info, handle, indent=1)
        os.replace(temporary, os.path.join(directory, "model.json"))
        return model, info
    finally:
        torch.set_num_threads(threads)


def load_or_train(directory=DEFAULT_DIR, retrain=False, log=print):
    """The trained UNet (eval mode), its info dict and the safetensors path of its weights."""
    from diffusers import UNet2DModel

    info_path = os.path.join(directory, "model.json")
    weights = os.path.join(directory, "unet", "diffusion_pytorch_model.safetensors")
    if not retrain and os.path.exists(info_path) and os.path.exists(weights):
        with open(info_path) as handle:
            info = json.load(handle)
        if info.get("fingerprint") == fingerprint():
            model = UNet2DModel.from_pretrained(os.path.join(directory, "unet"))
            model.eval()
            return model, info, weights
        log("  cached model has other settings: retraining")
    log(f"  training the DDPM UNet ({SETTINGS['steps']} steps, batch {SETTINGS['batch']}, 1 thread)")
    model, info = train(directory, log=log)
    return model, info, weights


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=DEFAULT_DIR)
    parser.add_argument("--retrain", action="store_true")
    args = parser.parse_args()
    _, info, weights = load_or_train(args.data_dir, args.retrain, log=lambda m: print(m, file=sys.stderr, flush=True))
    print(json.dumps({"weights": weights, **{k: v for k, v in info.items() if k != "settings"}}))


if __name__ == "__main__":
    main()
