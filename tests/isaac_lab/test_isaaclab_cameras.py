"""Cameras on sim=isaaclab: Newton's Warp ray tracer, kit-less, on the CPU.

Checked against MuJoCo itself, not against the configs we wrote: MuJoCo 3.12 (this venv)
computes each camera's pose on the same compiled scene at the robot's simulated joint
positions, and the Isaac Lab camera must sit there; the front image must show the object
where MuJoCo's camera model projects it.
"""

from __future__ import annotations

import json

import mujoco
import numpy as np

from arena_eval.app import SimApp
from arena_eval.config import compose, validate
from arena_eval.envs.base import EpisodeSource
from arena_eval.job import run_job
from arena_eval.results import read_episodes

SIZE = ("cameras.width=64", "cameras.height=64")


def cfg(*overrides: str):
    return compose(["sim=isaaclab", "progress=false", "env=lift_object", *overrides])


def mujoco_model(job):
    """The scene the backend converted, compiled by MuJoCo, with its data."""
    from arena_eval.envs.mujoco.backend import make_task
    from arena_eval.envs.mujoco.embodiments import make_embodiment
    from arena_eval.envs.mujoco.objects import get_object
    from arena_eval.envs.mujoco.scene import compose_spec

    embodiment = make_embodiment(job.embodiment, job.embodiment_params)
    spec = compose_spec(make_task(job), embodiment, get_object(job.objects[0]), job.physics_hz)
    model = spec.compile()
    return model, mujoco.MjData(model)


def mujoco_cameras(model, data, robot, env: int) -> None:
    """MuJoCo's camera poses with the robot at Isaac Lab's joint positions of ``env``."""
    q = robot.data.joint_pos.torch[env].cpu().numpy()
    for name, value in zip(robot.joint_names, q, strict=True):
        data.qpos[model.joint(name).qposadr[0]] = value
    mujoco.mj_forward(model, data)


def quat_xyzw_to_mat(q) -> np.ndarray:
    x, y, z, w = (float(v) for v in q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def test_cameras_sit_where_mujoco_puts_them_and_follow_the_hand() -> None:
    job = validate(cfg("num_envs=2", "enable_cameras=true", *SIZE))
    env = SimApp.get(job).make_env(job)
    model, data = mujoco_model(job)
    robot = env.scene["robot"]
    origins = env.scene.env_origins.cpu().numpy()
    names = {"image_front": "front", "image_wrist": "robot_eye_in_hand"}
    try:
        obs = env.reset(EpisodeSource(3, None))
        actions = np.random.default_rng(0).uniform(-1, 1, (2, env.spec.action.shape[0]))
        wrist_at_reset = None
        for step in range(21):
            if step:
                obs = env.step(actions).obs
            if step not in (0, 20):
                continue
            for key, name in names.items():
                assert obs[key].shape == (2, 64, 64, 3) and obs[key].std() > 10  # a real image
                camera = env.cameras[key]
                pos = camera.data.pos_w.torch.cpu().numpy() - origins
                quat = camera.data.quat_w_opengl.torch.cpu().numpy()
                for i in range(2):
                    mujoco_cameras(model, data, robot, i)
                    cam = model.camera(name).id
                    np.testing.assert_allclose(pos[i], data.cam_xpos[cam], atol=2e-3)
                    rot = data.cam_xmat[cam].reshape(3, 3)
                    np.testing.assert_allclose(quat_xyzw_to_mat(quat[i]), rot, atol=5e-3)
                if key == "image_wrist" and step == 0:
                    wrist_at_reset = pos.copy()
        assert np.linalg.norm(pos - wrist_at_reset, axis=1).min() > 0.02  # the hand moved
        assert env.images_rendered == 2 * 2 * 21  # two cameras, two envs, reset + 20 steps
    finally:
        env.close()


def test_the_front_image_shows_the_object_where_mujocos_camera_projects_it() -> None:
    pose = ("variations=[object_pose]", "variations.object_pose.y=[-0.12,0.12]")
    job = validate(cfg("num_envs=3", "enable_cameras=true", "cameras.names=[front]", *SIZE, *pose))
    env = SimApp.get(job).make_env(job)
    model, data = mujoco_model(job)
    mujoco.mj_forward(model, data)
    try:
        obs = env.reset(EpisodeSource(4, None))
        cam = model.camera("front").id
        rot, eye = data.cam_xmat[cam].reshape(3, 3), data.cam_xpos[cam]
        focal = 32 / np.tan(np.radians(model.cam_fovy[cam]) / 2)  # pixels, 64-pixel image
        columns = []
        for i in range(3):
            x, y, z = rot.T @ (obs["object_pos"][i] - eye)  # camera frame: looks down -z
            expected = np.array([32 + focal * x / -z, 32 - focal * y / -z])  # column, row
            image = obs["image_front"][i].astype(int)
            red = (image[..., 0] - np.maximum(image[..., 1], image[..., 2])) > 60
            assert red.sum() > 10, "the cracker box is not in the picture"
            rows, cols = np.nonzero(red)
            found = np.array([cols.mean() + 0.5, rows.mean() + 0.5])
            assert np.linalg.norm(found - expected) < 3.0, (i, found, expected)
            columns.append(found[0])
        assert np.ptp(columns) > 4  # the draws moved the box across the picture
    finally:
        env.close()


def test_record_video_on_isaaclab(tmp_path) -> None:
    import imageio.v2 as imageio

    result = run_job(
        cfg("record_video=true", "cameras.names=[front]", "cameras.width=64",
            "cameras.height=48", "policy=scripted", "num_envs=2", "length.n=2"),
        tmp_path,
        show=False,
    )  # fmt: skip
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["timing"]["images_rendered"] > 0
    videos = sorted((tmp_path / "videos").iterdir())
    assert [str(p.relative_to(tmp_path)) for p in videos] == results["videos"]
    assert len(videos) == 2 and result.metrics["num_episodes"] == 2
    rows = read_episodes(tmp_path / "episodes.csv")
    lengths = {int(r["episode_index"]): int(r["length"]) for r in rows}
    for path in videos:
        index = int(path.stem.removeprefix("ep").split("_")[0])
        reader = imageio.get_reader(path)
        try:
            assert reader.count_frames() == lengths[index] + 1  # the reset frame, then a step's
            assert reader.get_data(0).shape == (48, 64, 3)
        finally:
            reader.close()


def test_each_env_of_an_object_set_sees_its_own_object_only() -> None:
    """An object set is one scene on Isaac Lab, the other objects parked behind the robot; the
    cameras must not show them (on MuJoCo they do not exist in that env's model)."""
    objects = "object_set=[cracker_box,mustard_bottle]"
    front = ("enable_cameras=true", "cameras.names=[front]", *SIZE)
    job = validate(cfg("num_envs=2", objects, *front))
    env = SimApp.get(job).make_env(job)
    try:
        images = env.reset(EpisodeSource(4, None))["image_front"].astype(int)
    finally:
        env.close()
    r, g, b = images[..., 0], images[..., 1], images[..., 2]
    red = ((r - np.maximum(g, b)) > 60).sum(axis=(1, 2))  # the cracker box
    yellow = ((np.minimum(r, g) - b) > 80).sum(axis=(1, 2))  # the mustard bottle
    assert red[0] > 10 and yellow[0] == 0, (red, yellow)
    assert yellow[1] > 10 and red[1] == 0, (red, yellow)


def test_colour_variations_paint_each_env_in_the_shape_colours_and_the_image() -> None:
    """object_color and table_color: each env's own shapes in Newton's model take the drawn
    palette colour (gamma-encoded, as the converter stored MuJoCo's), and the rendered image
    follows: the channel that dominates the palette colour dominates the pixels."""
    from isaaclab_newton.physics import NewtonManager

    from arena_eval.envs.isaaclab.variations import srgb

    colours = ("variations=[object_color,table_color]", "cameras.names=[front]")
    job = validate(cfg("num_envs=6", "enable_cameras=true", *colours, *SIZE))
    env = SimApp.get(job).make_env(job)
    model, data = mujoco_model(job)
    mujoco.mj_forward(model, data)
    try:
        obs = env.reset(EpisodeSource(7, None))
        values = [dict(v) for v in env.book.values]
        group = env.groups[0].variations
        shape_color = NewtonManager.get_model().shape_color.numpy()
    finally:
        env.close()
    tables = {v["table_color.color"] for v in values}
    objects = {v["object_color.color"] for v in values}
    assert len(tables) > 1 and len(objects) > 1  # the draws differ between envs
    palette = {k: job.variations[k]["colors"] for k in ("table_color", "object_color")}
    own = (0.85, 0.2, 0.15)  # the cracker box's catalog colour
    cam = model.camera("front").id
    rot, eye = data.cam_xmat[cam].reshape(3, 3), data.cam_xpos[cam]
    focal = 32 / np.tan(np.radians(model.cam_fovy[cam]) / 2)
    for i, v in enumerate(values):
        table = palette["table_color"][v["table_color.color"]][:3]
        obj = palette["object_color"][v["object_color.color"]] or own
        np.testing.assert_allclose(shape_color[group.table_shapes[i]], srgb(table), atol=1e-5)
        np.testing.assert_allclose(shape_color[group.object_shapes[i]], srgb(obj[:3]), atol=2e-3)
        # The object's pixel (MuJoCo's projection of its centre) and a patch of bare table.
        x, y, z = rot.T @ (obs["object_pos"][i] - eye)
        col, row = int(32 + focal * x / -z), int(32 - focal * y / -z)
        pixel = obs["image_front"][i, row - 1 : row + 2, col - 1 : col + 2].reshape(-1, 3).mean(0)
        assert int(np.argmax(pixel)) == int(np.argmax(obj[:3])), (i, v, pixel)
        patch = obs["image_front"][i, 58:, 4:16].reshape(-1, 3).mean(0)
        if v["table_color.color"] in ("wood", "blue"):  # a clearly dominant channel
            assert int(np.argmax(patch)) == int(np.argmax(table)), (i, v, patch)


def test_camera_pose_jitter_puts_each_camera_where_mujoco_puts_the_jittered_one() -> None:
    """camera_pose on Isaac Lab: each env's cameras sit where MuJoCo's kinematics put the same
    camera with the same drawn offset and turn (applied in the camera's own frame)."""
    from arena_eval.geometry import quat_from_rotvec, quat_mul

    jitter = ("variations=[camera_pose]", "variations.camera_pose.position=[-0.05,0.05]")
    job = validate(cfg("num_envs=2", "enable_cameras=true", *jitter, *SIZE))
    env = SimApp.get(job).make_env(job)
    model, data = mujoco_model(job)
    robot = env.scene["robot"]
    origins = env.scene.env_origins.cpu().numpy()
    names = {"image_front": "front", "image_wrist": "robot_eye_in_hand"}
    base = {n: (model.cam_pos[model.camera(n).id].copy(), model.cam_quat[model.camera(n).id].copy())
            for n in names.values()}  # fmt: skip
    try:
        env.reset(EpisodeSource(2, None))
        env.step(np.zeros((2, env.spec.action.shape[0])))
        values = [dict(v) for v in env.book.values]
        moved = 0.0
        for i, v in enumerate(values):
            d = np.array([v[f"camera_pose.{a}"] for a in ("dx", "dy", "dz")])
            turn = quat_from_rotvec(np.array([[v[f"camera_pose.{a}"] for a in ("rx", "ry", "rz")]]))
            for name in names.values():
                cam = model.camera(name).id
                pos0, q0 = base[name]
                rot0 = quat_xyzw_to_mat(np.r_[q0[1:], q0[0]])
                model.cam_pos[cam] = pos0 + rot0 @ d
                model.cam_quat[cam] = quat_mul(q0[None], turn)[0]
            mujoco_cameras(model, data, robot, i)
            for key, name in names.items():
                camera, cam = env.cameras[key], model.camera(name).id
                pos = camera.data.pos_w.torch.cpu().numpy()[i] - origins[i]
                quat = camera.data.quat_w_opengl.torch.cpu().numpy()[i]
                np.testing.assert_allclose(pos, data.cam_xpos[cam], atol=2e-3)
                rot = data.cam_xmat[cam].reshape(3, 3)
                np.testing.assert_allclose(quat_xyzw_to_mat(quat), rot, atol=5e-3)
            front = model.camera("front").id
            moved = max(moved, float(np.linalg.norm(data.cam_xpos[front] - base["front"][0])))
        assert moved > 0.01  # the draws moved the cameras
    finally:
        env.close()
