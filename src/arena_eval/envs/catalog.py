"""Names the backends know (tasks, embodiments, objects), checked without importing a simulator."""

from __future__ import annotations


def check_names(
    backend: str | None, task: str | None, embodiment: str | None, objects: list[str]
) -> list[str]:
    """Return one human-readable error per unknown name (empty when all are known)."""
    from arena_eval.envs.mujoco.embodiments import EMBODIMENTS
    from arena_eval.envs.mujoco.objects import OBJECTS
    from arena_eval.envs.mujoco.tasks import TASKS

    # Isaac Lab runs the same names through its adapter (envs/isaaclab), so one catalog serves.
    errors = []
    if task == "isaaclab_task":  # any registered Isaac Lab task, its own robot and objects
        if backend != "isaaclab":
            errors.append("env=isaaclab_task runs registered Isaac Lab tasks: add sim=isaaclab")
        return errors
    if task not in TASKS:
        errors.append(f"unknown env {task!r}; available: {', '.join(sorted(TASKS))}")
    if embodiment not in EMBODIMENTS:
        errors.append(
            f"unknown embodiment {embodiment!r}; available: {', '.join(sorted(EMBODIMENTS))}"
        )
    unknown = [o for o in objects if o not in OBJECTS]
    if unknown:
        errors.append(
            f"unknown object(s) {', '.join(map(repr, unknown))}; the catalog has: "
            f"{', '.join(sorted(OBJECTS))}"
        )
    return errors
