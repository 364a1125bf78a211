"""Classification: images with one label each (see :mod:`medimg.tasks`)."""
