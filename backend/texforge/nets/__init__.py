"""Network building blocks and the pretrained perceptual backbone."""
