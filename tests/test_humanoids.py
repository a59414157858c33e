"""Humanoid embodiments (GR1, G1): layouts in GR00T's groups, the home pose, joint targets, grips,
fingers, and the bimanual IK tracking both hands."""

from __future__ import annotations

import numpy as np
import pytest

from arena_eval.app import SimApp
from arena_eval.config import validate
from arena_eval.envs.base import EpisodeSource
from arena_eval.envs.mujoco.embodiments import make_embodiment

HUMANOIDS = ["gr1_joint", "g1_joint"]
GR00T_HAND = (
    "pinky_proximal",
    "ring_proximal",
    "middle_proximal",
    "index_proximal",
    "thumb_proximal_yaw",
    "thumb_proximal_pitch",
)


def make_env(make_cfg, embodiment: str, *overrides: str, num_envs: int = 2):
    job = validate(
        make_cfg("env=lift_object", f"embodiment={embodiment}", f"num_envs={num_envs}", *overrides)
    )
    return SimApp.get(job).make_env(job)


def group(env, name: str) -> slice:
    return slice(*env.spec.embodiment_info["action_groups"][name])


def home_action(env) -> np.ndarray:
    """Hold the home pose: the arms' home targets, both hands open."""
    robot = env.groups[0].robot
    action = np.zeros((env.spec.num_envs, env.spec.action_dim))
    action[:, robot.chain_cols] = robot.home_q
    for side in ("left", "right"):
        action[:, group(env, f"{side}_hand")] = 1.0
    return action


@pytest.mark.parametrize("embodiment", HUMANOIDS)
def test_home_pose_holds_over_the_counter(make_cfg, embodiment: str) -> None:
    env = make_env(make_cfg, embodiment)
    try:
        obs = env.reset(EpisodeSource(0, None))
        action = home_action(env)
        for _ in range(100):  # 2 s at 50 Hz
            obs = env.step(action).obs
        assert np.abs(obs["joint_pos"] - env.groups[0].robot.home_q).max() < 0.02
        assert np.abs(obs["joint_vel"]).max() < 0.05
        for hand in ("right", "left"):
            pos = obs[f"{hand}_ee_pos"]
            assert (pos[:, 2] > 0.1).all(), (hand, pos)  # above the table top
            assert (pos[:, 0] > 0.4).all(), (hand, pos)  # out over the counter, in reach
        assert (obs["right_ee_pos"][:, 1] < 0).all() and (obs["left_ee_pos"][:, 1] > 0).all()
        assert np.abs(obs["hand_closure"]).max() < 0.05  # open
    finally:
        env.close()


@pytest.mark.parametrize("embodiment", HUMANOIDS)
def test_joint_targets_move_only_their_joints(make_cfg, embodiment: str) -> None:
    env = make_env(make_cfg, embodiment)
    try:
        env.reset(EpisodeSource(0, None))
        names = env.spec.action_names
        action = home_action(env)
        # Env 0 bends its right elbow by 0.3 rad (towards the middle of the range); env 1 holds.
        elbow = next(i for i, n in enumerate(names) if n.startswith("r_elbow_pitch"))
        low, high = env.spec.action_low[elbow], env.spec.action_high[elbow]
        step = 0.3 if action[0, elbow] + 0.3 < high else -0.3
        assert low < action[0, elbow] + step < high
        action[0, elbow] += step
        for _ in range(50):
            obs = env.step(action).obs
        joints = env.spec.embodiment_info["joint_names"]
        assert list(joints) == [names[i] for i in env.groups[0].robot.chain_cols]
        moved = np.abs(obs["joint_pos"][0] - obs["joint_pos"][1])
        k = joints.index(names[elbow])
        assert moved[k] > 0.25 and np.delete(moved, k).max() < 0.03
        assert np.linalg.norm(obs["right_ee_pos"][0] - obs["right_ee_pos"][1]) > 0.03
        assert np.linalg.norm(obs["left_ee_pos"][0] - obs["left_ee_pos"][1]) < 0.005
    finally:
        env.close()


@pytest.mark.parametrize("embodiment", HUMANOIDS)
def test_grip_closes_its_hand(make_cfg, embodiment: str) -> None:
    env = make_env(make_cfg, embodiment)
    try:
        env.reset(EpisodeSource(0, None))
        action = home_action(env)
        action[:, group(env, "right_hand")] = -1.0  # close the right hand, keep the left open
        for _ in range(25):
            obs = env.step(action).obs
        closure = obs["hand_closure"]  # (left, right)
        assert (closure[:, 1] > 0.9).all(), closure
        assert (closure[:, 0] < 0.05).all(), closure
        action[:, group(env, "right_hand")] = 0.0  # half way
        for _ in range(25):
            obs = env.step(action).obs
        assert np.allclose(obs["hand_closure"][:, 1], 0.5, atol=0.05), obs["hand_closure"]
    finally:
        env.close()


@pytest.mark.parametrize(
    ("name", "params", "groups"),
    [
        ("gr1_joint", {}, {"left_arm": 7, "right_arm": 7, "left_hand": 1, "right_hand": 1}),
        (
            "gr1_joint",
            {"hands": "fingers"},
            {"left_arm": 7, "right_arm": 7, "left_hand": 6, "right_hand": 6},
        ),
        (
            "gr1_joint",
            {"hands": "fingers", "waist": True},
            {"left_arm": 7, "right_arm": 7, "left_hand": 6, "right_hand": 6, "waist": 3},
        ),
        ("gr1_ik", {}, {"left_ee": 6, "right_ee": 6, "left_hand": 1, "right_hand": 1}),
        (
            "gr1_ik",
            {"hands": "fingers"},
            {"left_ee": 6, "right_ee": 6, "left_hand": 6, "right_hand": 6},
        ),
        ("g1_joint", {}, {"left_arm": 5, "right_arm": 5, "left_hand": 1, "right_hand": 1}),
        ("g1_ik", {"waist": True}, {"left_ee": 6, "right_ee": 6, "left_hand": 1, "right_hand": 1}),
    ],
)
def test_action_groups_in_gr00t_order(name: str, params: dict, groups: dict) -> None:
    embodiment = make_embodiment(name, params)
    info = embodiment.info()
    spans = info["action_groups"]
    assert list(spans) == list(groups)  # GR00T's order: left before right, arms, hands, waist
    assert {k: b - a for k, (a, b) in spans.items()} == groups
    assert embodiment.layout.dim == sum(groups.values())
    starts = [a for a, _ in spans.values()]
    assert starts == sorted(starts) and starts[0] == 0  # contiguous, in order
    layout = embodiment.layout
    assert all(lo < hi for lo, hi in zip(layout.low, layout.high, strict=True))


def test_fingers_layout_is_gr00ts_gr1() -> None:
    """gr1_joint hands=fingers: GR00T's GR1 groups (26, 29 with the waist), fingers in order."""
    embodiment = make_embodiment("gr1_joint", {"hands": "fingers"})
    names = embodiment.layout.names
    assert embodiment.layout.dim == 26
    for side, tag in (("left", "L"), ("right", "R")):
        a, b = embodiment.info()["action_groups"][f"{side}_hand"]
        assert names[a:b] == tuple(f"{tag}_{j}_joint" for j in GR00T_HAND)
    assert names[:7] == tuple(f"l_{j}" for j in ARM) and names[7:14] == tuple(f"r_{j}" for j in ARM)
    # The observation's joint groups are the action's: a policy maps both by name.
    assert embodiment.info()["joint_groups"] == embodiment.info()["action_groups"]
    assert make_embodiment("gr1_joint", {"hands": "fingers", "waist": True}).layout.dim == 29


ARM = (
    "shoulder_pitch",
    "shoulder_roll",
    "shoulder_yaw",
    "elbow_pitch",
    "wrist_yaw",
    "wrist_roll",
    "wrist_pitch",
)


def test_finger_commands_drive_their_joints_and_couplings(make_cfg) -> None:
    env = make_env(make_cfg, "gr1_joint", "embodiment.params.hands=fingers", num_envs=1)
    try:
        obs = env.reset(EpisodeSource(0, None))
        action = np.zeros((1, env.spec.action_dim))
        robot = env.groups[0].robot
        action[:, robot.chain_cols] = robot.home_q
        hand = group(env, "right_hand")
        action[0, hand.start + 3] = 1.0  # the index finger's proximal joint, 1 rad
        for _ in range(40):
            obs = env.step(action).obs
        joints = obs["joint_pos"][0, slice(*env.spec.embodiment_info["joint_groups"]["right_hand"])]
        assert abs(joints[3] - 1.0) < 0.05, joints
        assert np.abs(np.delete(joints, 3)).max() < 0.05, joints  # the others stay open
        model = env.groups[0].sims.model
        qpos = env.groups[0].sims.qpos[0]
        intermediate = model.joint("robot_right_gripper_R_index_intermediate_joint").qposadr[0]
        assert abs(qpos[intermediate] - 1.0) < 0.05  # follows one to one, by coupling
        with pytest.raises(ValueError, match="hands=fingers is for GR1"):
            make_embodiment("g1_joint", {"hands": "fingers"})
    finally:
        env.close()


@pytest.mark.parametrize(
    ("embodiment", "scale", "tolerance"), [("gr1_ik", 1.0, 0.005), ("g1_ik", 0.5, 0.01)]
)
def test_ik_tracks_each_hand_and_holds_the_other(make_cfg, embodiment, scale, tolerance) -> None:
    """Env 0 moves its right hand 6 cm back and inward and 8 cm up (clear of the object; G1, a
    smaller robot, half that), env 1 its left hand; the
    hand that moves ends within ``tolerance`` of its target (G1's five-joint arms trade some
    position for orientation), the other stays put."""
    env = make_env(make_cfg, embodiment)
    try:
        obs = env.reset(EpisodeSource(0, None))
        start = {s: obs[f"{s}_ee_pos"].copy() for s in ("left", "right")}
        action = np.zeros((2, env.spec.action_dim))
        for side in ("left", "right"):
            action[:, group(env, f"{side}_hand")] = 1.0
        shift = {
            "right": scale * np.array([-0.003, 0.003, 0.004]),
            "left": scale * np.array([-0.003, -0.003, 0.004]),
        }
        for t in range(60):
            step = action.copy()
            if t < 20:  # 20 steps of the shift, then hold
                step[0, group(env, "right_ee")][:3] = shift["right"]
                step[1, group(env, "left_ee")][:3] = shift["left"]
            obs = env.step(step).obs
        for env_id, mover, still in ((0, "right", "left"), (1, "left", "right")):
            target = start[mover][env_id] + 20 * shift[mover]
            assert np.linalg.norm(obs[f"{mover}_ee_pos"][env_id] - target) < tolerance
            assert np.linalg.norm(obs[f"{still}_ee_pos"][env_id] - start[still][env_id]) < 0.005
    finally:
        env.close()


def test_the_name_sets_the_mode() -> None:
    with pytest.raises(ValueError, match="choose the embodiment"):
        make_embodiment("gr1_ik", {"mode": "joint_pos"})


def test_task_space_policy_runs_the_ik_for_every_env_at_once(make_cfg) -> None:
    from arena_eval.job import make_job_policy
    from arena_eval.policies.base import PolicyError
    from arena_eval.policies.task_space import TaskSpacePolicy

    job = validate(make_cfg("env=lift_object", "embodiment=gr1_joint", "policy=scripted"))
    env = SimApp.get(job).make_env(job)
    try:
        policy = make_job_policy(job, env)
        assert isinstance(policy, TaskSpacePolicy)
        assert policy.inner.spec.action_mode == "ee_delta"  # planned on gr1_ik's spec
        obs = env.reset(EpisodeSource(0, None))
        action = policy.get_action(obs)
        assert action.shape == (env.spec.num_envs, env.spec.action_dim)  # gr1_joint's layout
        everyone = policy.get_action_chunk(obs, np.arange(env.spec.num_envs))
        assert everyone.shape == (env.spec.num_envs, 1, env.spec.action_dim)
        with pytest.raises(PolicyError, match="every env at once"):
            policy.get_action_chunk({k: v[:1] for k, v in obs.items()}, np.array([0]))
    finally:
        env.close()


def test_gr1_thumbs_stand_where_the_expert_offsets_its_grasps(make_cfg) -> None:
    """The scripted expert's top grasp sets the object's near face just ahead of the thumb and
    its centre over towards the thumb's side: +y of the left hand's grasp frame, -y of the
    right's. Those are facts of the hand files, checked here on the open hands at home."""
    from arena_eval.geometry import quat_to_mat
    from arena_eval.policies.scripted import THUMB_FACE

    env = make_env(make_cfg, "gr1_ik", num_envs=1)
    try:
        obs = env.reset(EpisodeSource(0, None))
        model = env.groups[0].sims.model
        data = env.groups[0].sims.batch.get_data(0)
        for side, tag, sign in (("left", "L", 1.0), ("right", "R", -1.0)):
            axes = quat_to_mat(obs[f"{side}_ee_quat"][:1])[0]
            thumb = model.body(f"robot_{side}_gripper_{tag}_thumb_proximal_link").id
            local = axes.T @ (data.xpos[thumb] - obs[f"{side}_ee_pos"][0])
            assert sign * local[1] > 0.02, (side, local)  # the thumb's side of the palm
            assert abs(local[0] - THUMB_FACE) < 0.01, (side, local)  # behind the grasp point
    finally:
        env.close()


def _deepest_robot_contact(env, row: int = 0) -> tuple[float, str]:
    """The deepest contact between the robot and anything else at the reset state of env
    ``row`` (m; negative is penetration) and what it touches."""
    import mujoco

    group = env.groups[0]
    model = group.sims.model
    data = group.sims.batch.get_data(row)
    mujoco.mj_forward(model, data)
    worst, what = 0.0, ""
    for i in range(data.ncon):
        c = data.contact[i]
        names = [model.body(model.geom_bodyid[g]).name for g in (c.geom1, c.geom2)]
        if any(n.startswith("robot") for n in names) and c.dist < worst:
            worst, what = float(c.dist), " <-> ".join(names)
    return worst, what


CLEAR_STARTS = [
    (env_name, embodiment, obj)
    for env_name in ("open_microwave", "lift_object", "fridge", "kitchen_pick_and_place")
    for embodiment in ("g1_ik", "gr1_ik")
    for obj in ("cracker_box", "ranch_dressing_bottle")
    # G1's lift keeps its stance (its two-handed expert was measured there): the tallest box
    # brushes its left elbow by 2 mm in one env of eight.
    if not (embodiment == "g1_ik" and env_name == "lift_object")
] + [("press_button", "g1_joint", "cracker_box"), ("open_microwave", "gr1_joint", "cracker_box")]
RAISED = {"open_microwave", "fridge", "kitchen_pick_and_place", "press_button"}


@pytest.mark.parametrize(("env_name", "embodiment", "obj"), CLEAR_STARTS)
def test_humanoids_start_clear_of_fixtures_and_objects(
    make_cfg, embodiment: str, env_name: str, obj: str
) -> None:
    """No humanoid starts inside a fixture or the object, in any of 8 envs (each its own
    reset draw): G1's ready hands stood 5 cm in the microwave's top (each engine then pushed
    the arm out its own way; its door "opened" from inside) and its left forearm 3-4 cm in the
    object on the fridge, pick-and-place and button tasks. There G1 stands taller; GR1, whose
    hands start higher, keeps its stance everywhere."""
    from arena_eval.envs.mujoco.embodiments.humanoid import MODELS

    job = validate(
        make_cfg(
            f"env={env_name}",
            f"embodiment={embodiment}",
            f"object={obj}",
            "num_envs=8",
            "policy=zero_action",
        )
    )
    env = SimApp.get(job).make_env(job)
    try:
        env.reset(EpisodeSource(0, None))
        for row in range(8):
            worst, what = _deepest_robot_contact(env, row)
            assert worst > -1e-3, (
                f"{embodiment} on {env_name} starts {-worst * 100:.1f} cm in {what}"
            )
        base = env.spec.embodiment_info["base_pos"]
        model = MODELS[embodiment.split("_")[0]]()
        if env_name in RAISED and embodiment.startswith("g1"):
            assert base[2] > model.base_pos[2] + 0.05  # stood up: the hands clear what is below
        else:
            assert tuple(base) == model.base_pos
        # The model's stated hand height at home is the compiled scene's.
        robot, sims = env.groups[0].robot, env.groups[0].sims
        for side in ("left", "right"):
            z = sims.xpos[0, robot.grasp_body[side], 2]
            assert z - base[2] == pytest.approx(model.home_grasp_z, abs=2e-3)
    finally:
        env.close()


def test_a_placement_the_user_gives_is_kept(make_cfg) -> None:
    embodiment = make_embodiment("g1_ik", {"base_pos": [0.2, 0.0, -0.7]})
    embodiment.clear_fixtures(0.33)
    assert embodiment.model.base_pos == (0.2, 0.0, -0.7)
    embodiment = make_embodiment("g1_ik")
    embodiment.clear_fixtures(0.33)
    assert embodiment.model.base_pos[2] == pytest.approx(0.33 - embodiment.model.home_grasp_z)
    embodiment.clear_fixtures(None)
    assert embodiment.model.base_pos[2] == pytest.approx(0.33 - embodiment.model.home_grasp_z)
