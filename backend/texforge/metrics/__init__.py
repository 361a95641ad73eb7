"""Evaluation metrics: IoU, PSNR, SSIM, Chamfer / F-score, KID / FID on EffNet-Lite0 features."""
