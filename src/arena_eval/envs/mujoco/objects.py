"""The object catalog: real-world sizes and masses of the objects a task can hold.

Figures are the YCB Object and Model Set's (Calli et al., "Benchmarking in Manipulation
Research: The YCB Object and Model Set and Benchmarking Protocols", IEEE RAM 2015, table of
object dimensions and masses). Shapes are primitives fitted to those dimensions: a box or an
upright cylinder, which is what the tasks' success terms and the scripted grasps need.
Pure data: importing this module imports no simulator.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ObjectSpec:
    name: str
    shape: str  # "box" | "cylinder"
    size: tuple[float, float, float]  # full extents x, y, z in metres (cylinder: d, d, h)
    mass: float  # kg
    rgba: tuple[float, float, float, float]
    source: str = "YCB (Calli et al. 2015)"

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
    )
}


def get_object(name: str) -> ObjectSpec:
    try:
        return OBJECTS[name]
    except KeyError:
        raise ValueError(
            f"unknown object {name!r}; the catalog has: {', '.join(sorted(OBJECTS))}"
        ) from None
