"""Shortcuts: a property of the files that tells the classes apart by itself.

When each class comes from another source (pneumonia X-rays from one hospital as 8-bit JPEG, normal ones from
another as 16-bit PNG; COVID-19 images from publications, controls from a paediatric archive), a classifier can
score well by learning the file type, the image size or the colour mode instead of the finding, and fails on the
next hospital's images: the best-known trap of public medical sets. ``medimg check`` (and ``fit``, which runs it
first) warns when one property alone predicts the class almost perfectly, well above always guessing the largest
class. The warning names the property and each class's usual value; it is not an error, since a property can
separate classes for an honest reason.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

SEPARATING_ACCURACY = 0.95
"""Guessing the class from the property alone is at least this accurate..."""
ABOVE_MAJORITY = 0.2
"""...and beats always guessing the largest class by at least this much."""
MAX_VALUES = 10
"""Properties with more distinct values (image sizes of natural photographs) are not judged."""
MIN_IMAGES = 20


def shortcut_warnings(properties: dict[str, Sequence[tuple[str, str]]]) -> list[str]:
    """One warning per property (``name -> [(class, value) per image]``) whose values separate the classes.

    Example:
        >>> pairs = [("normal", "png 16-bit")] * 20 + [("pneumonia", "jpeg 8-bit")] * 20
        >>> shortcut_warnings({"file type": pairs})[0][:52]
        'the file type tells the classes apart (normal: png 1'
    """
    warnings = []
    for name, pairs in properties.items():
        summary = _separation(pairs)
        if summary is not None:
            warnings.append(
                f"the {name} tells the classes apart ({summary}): a model can learn it instead of the finding "
                "(a shortcut, as when each class comes from another hospital, scanner or archive) and fail on other "
                f"sources; give every class images of each {name}, or convert them all to one"
            )
    return warnings


def _separation(pairs: Sequence[tuple[str, str]]) -> str | None:
    """``"class: value n/N; ..."`` when the values separate the classes (see the module constants), else None."""
    if len(pairs) < MIN_IMAGES:
        return None
    by_value: dict[str, Counter[str]] = defaultdict(Counter)
    for label, value in pairs:
        by_value[value][label] += 1
    classes = Counter(label for label, _ in pairs)
    if len(by_value) < 2 or len(by_value) > MAX_VALUES or len(classes) < 2:
        return None
    guessed = sum(max(counts.values()) for counts in by_value.values()) / len(pairs)
    majority = max(classes.values()) / len(pairs)
    if guessed < SEPARATING_ACCURACY or guessed - majority < ABOVE_MAJORITY:
        return None
    parts = []
    for label, total in sorted(classes.items()):
        value, count = max(((v, c[label]) for v, c in by_value.items()), key=lambda item: item[1])
        parts.append(f"{label}: {value} {count}/{total}")
    return "; ".join(parts)
