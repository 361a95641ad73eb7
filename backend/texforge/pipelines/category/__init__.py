"""Category models (issue 11): a collection of one kind of object -> a reconstruction network
(image -> deformation map + texture + camera on the ConvMesh sphere), pseudo-ground-truth maps of every
training object, and (the GAN stage) a generator of new objects; kept in one model folder (texforge.models.category_model).

``train_category_model(collection, out, preset)`` runs the stages; ``run_train_reconstructor``,
``build_pseudo_maps`` and ``evaluate_reconstructor`` are the stages' pieces; ``CategoryConfig.preset(
"tiny" | "small" | "full")``.
"""

from ...models.category_config import CategoryConfig

__all__ = ["CategoryConfig"]
