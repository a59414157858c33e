"""The object catalog: real-world sizes and masses of the objects a task can hold.

Two sources, named per object in ``ObjectSpec.source``:

- YCB objects: the YCB Object and Model Set's figures (Calli et al., "Benchmarking in
  Manipulation Research: The YCB Object and Model Set and Benchmarking Protocols", IEEE RAM
  2015, table of object dimensions and masses).
- Kitchen condiments and cans (the reference's ``*_hope_robolab`` kitchen sets): our estimates
  of typical US retail packages (a 20 oz squeeze bottle of ketchup, a 16 fl oz dressing bottle,
  a standard "211 x 304" 8 oz can, ...), not measurements of a particular item. Masses are the
  net weight printed on such packages plus an estimate of the container. The reference's HOPE
  assets are scans of toy replicas (Tyree et al. 2022), which are smaller and lighter than the
  real products; we model the real products.

Shapes are primitives fitted to those dimensions: a box or an upright cylinder, which is what
the tasks' success terms and the scripted grasps need. An oval bottle becomes a box of its
width, depth and height. Every object's narrower horizontal side is below 0.075 m so the
Panda's parallel gripper (0.08 m stroke) can close on it.
Pure data: importing this module imports no simulator.
"""

from __future__ import annotations

from dataclasses import dataclass

YCB = "YCB (Calli et al. 2015)"
RETAIL = "typical US retail package (our estimate, not a measurement)"


@dataclass(frozen=True)
class ObjectSpec:
    name: str
    shape: str  # "box" | "cylinder"
    size: tuple[float, float, float]  # full extents x, y, z in metres (cylinder: d, d, h)
    mass: float  # kg
    rgba: tuple[float, float, float, float]
    source: str = YCB

    @property
    def height(self) -> float:
        return self.size[2]

    @property
    def grasp_width(self) -> float:
        """The narrower horizontal extent: what a parallel gripper closes on."""
        return min(self.size[0], self.size[1])


OBJECTS: dict[str, ObjectSpec] = {
    spec.name: spec
    for spec in (
        ObjectSpec("cracker_box", "box", (0.060, 0.158, 0.210), 0.411, (0.85, 0.20, 0.15, 1)),
        ObjectSpec("mustard_bottle", "box", (0.058, 0.095, 0.190), 0.603, (0.95, 0.85, 0.10, 1)),
        ObjectSpec("power_drill", "box", (0.035, 0.046, 0.184), 0.895, (0.20, 0.25, 0.30, 1)),
        ObjectSpec("sugar_box", "box", (0.038, 0.089, 0.175), 0.514, (0.95, 0.95, 0.80, 1)),
        ObjectSpec(
            "tomato_soup_can", "cylinder", (0.066, 0.066, 0.101), 0.349, (0.80, 0.10, 0.10, 1)
        ),
        # Kitchen condiments and cans; see the module docstring for where the figures come from.
        # 20 oz squeeze bottle: 567 g net + ~50 g bottle; oval section ~80 x 55 mm, ~195 mm tall.
        ObjectSpec(
            "ketchup_bottle", "box", (0.080, 0.055, 0.195), 0.62, (0.75, 0.05, 0.05, 1), RETAIL
        ),
        # 16 fl oz dressing bottle, round: ~68 mm across, ~190 mm tall; ~450 g net + ~40 g bottle.
        ObjectSpec(
            "ranch_dressing_bottle",
            "cylinder",
            (0.068, 0.068, 0.190),
            0.49,
            (0.95, 0.95, 0.90, 1),
            RETAIL,
        ),
        # 18 oz barbecue sauce bottle: ~78 x 58 mm, ~185 mm tall; 510 g net + ~60 g bottle.
        ObjectSpec(
            "bbq_sauce_bottle", "box", (0.078, 0.058, 0.185), 0.57, (0.35, 0.12, 0.05, 1), RETAIL
        ),
        # 20 oz mayonnaise squeeze bottle: ~85 x 58 mm, ~190 mm tall; 567 g net + ~50 g bottle.
        ObjectSpec(
            "mayonnaise_bottle", "box", (0.085, 0.058, 0.190), 0.62, (0.97, 0.96, 0.88, 1), RETAIL
        ),
        # Condensed soup in a "211 x 400" can (2 11/16 in x 4 in): 68 x 102 mm; 305 g net + 45 g.
        ObjectSpec(
            "alphabet_soup_can",
            "cylinder",
            (0.068, 0.068, 0.102),
            0.35,
            (0.85, 0.55, 0.10, 1),
            RETAIL,
        ),
        # 8 oz tomato sauce in a "211 x 304" can (2 11/16 in x 3 4/16 in): 68 x 83 mm; 227 g + 40 g.
        ObjectSpec(
            "tomato_sauce_can",
            "cylinder",
            (0.068, 0.068, 0.083),
            0.27,
            (0.70, 0.15, 0.10, 1),
            RETAIL,
        ),
    )
}


def get_object(name: str) -> ObjectSpec:
    try:
        return OBJECTS[name]
    except KeyError:
        raise ValueError(
            f"unknown object {name!r}; the catalog has: {', '.join(sorted(OBJECTS))}"
        ) from None
