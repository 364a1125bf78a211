"""Class-conditional image generation (``medimg fit DATA --task generate``, ``medimg generate RUN``).

Modules: :mod:`.plan` (plan and ``determine_*`` heuristics), :mod:`.gan` and :mod:`.gan_step` (conditional GAN
and its two-optimiser step), :mod:`.diffusion` (MONAI DDPM/DDIM), :mod:`.networks` (by name), :mod:`.data`
(tensors in, files out), :mod:`.sampling`, :mod:`.features` (the classifier feature space), :mod:`.metrics`
(Fréchet distance, precision/recall, nearest neighbours), :mod:`.validation` (engine hooks), :mod:`.evaluate`
and :mod:`.report` (the report), :mod:`.synthesis` (writing a synthetic set), :mod:`.task` (the Task).
"""
