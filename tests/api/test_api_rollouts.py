"""Rollouts through the API, in process: a new build is one POST, its rollout shows in the status,
and the runner (routing only stored, a clock of its own) moves it; commands and their refusals."""

from __future__ import annotations

import time

from api_support import Api, publish_polling

from workerplane.controller.rollouts import RolloutRunner
from workerplane.security.tokens import generate_token
from workerplane.store.rollout_io import StoreRolloutIO

DEPLOYMENTS = "/v1/worker-deployments"
PROGRESSIVE = {
    "strategy": "progressive",
    "steps": [{"ramp_percentage": 10, "pause": "1m"}, {"ramp_percentage": 50, "pause": "2m"}],
}
V1 = {
    "build_id": "v1", "task_queues": ["q"],
    "compute_config": {"scaling_groups": {"g": {
        "provider": {"type": "subprocess", "details": {"command": "python"}},
        "scaler": {"type": "backlog", "details": {"min_count": 1, "max_count": 3}},
    }}},
    "rollout": PROGRESSIVE,
}  # fmt: skip


async def test_a_new_build_is_one_post_and_its_rollout_is_shown_and_controlled(api: Api) -> None:
    clock = [time.time()]  # the API stamps commands with the real clock
    runner = RolloutRunner(StoreRolloutIO(api.store), None, clock=lambda: clock[0])
    async with api.client() as c:
        assert (await c.post(DEPLOYMENTS, json={"name": "shop"})).status_code == 201
        assert (await c.get(f"{DEPLOYMENTS}/shop/rollout")).status_code == 404
        assert (await c.post(f"{DEPLOYMENTS}/shop/versions", json=V1)).status_code == 201
        # The first build: nothing to ramp from, but still no move before its minimum polls.
        await runner.tick()
        first = (await c.get(f"{DEPLOYMENTS}/shop/rollout")).json()
        assert first["phase"] == "waiting-for-workers"
        assert first["waiting_for"] == "the first status of v1's workers"
        publish_polling(api.store, "shop", "v1", 1)
        await runner.tick()
        await runner.tick()
        dep = (await c.get(f"{DEPLOYMENTS}/shop")).json()
        assert dep["current_version"] == "v1" and dep["rollout"]["phase"] == "succeeded"

        # The new build: only its build ID; task queues, compute config and rollout are copied.
        v2 = await c.post(f"{DEPLOYMENTS}/shop/versions", json={"build_id": "v2"})
        assert v2.status_code == 201, v2.text
        assert (
            v2.json()["compute_config"]["scaling_groups"]["g"]["scaler"]["details"]["min_count"]
            == 1
        )
        rollout = (await c.get(f"{DEPLOYMENTS}/shop")).json()["rollout"]
        assert rollout["target_version"] == "v2" and rollout["previous_version"] == "v1"
        assert (rollout["strategy"], rollout["steps"]) == ("progressive", 2)

        publish_polling(api.store, "shop", "v2", 1)
        await runner.tick()  # asks for the first ramp
        await runner.tick()  # sees it: the step's pause starts
        status = (await c.get(f"{DEPLOYMENTS}/shop/rollout")).json()
        assert (status["phase"], status["step"], status["ramp_percentage"]) == ("ramping", 1, 10)
        assert status["next_step_at"] == clock[0] + 60
        assert status["waiting_for"] == "step 1/2: 10% for 60s"

        # Pause: the runner's clock passes the step, nothing moves.
        assert (await c.post(f"{DEPLOYMENTS}/shop/rollout/pause")).json()["paused"] is True
        again = await c.post(f"{DEPLOYMENTS}/shop/rollout/pause")
        assert again.status_code == 409 and "already paused" in again.text
        clock[0] += 600
        await runner.tick()
        assert (await c.get(f"{DEPLOYMENTS}/shop")).json()["ramping_percentage"] == 10
        resumed = (await c.post(f"{DEPLOYMENTS}/shop/rollout/resume")).json()
        assert resumed["paused"] is False
        assert resumed["next_step_at"] >= status["next_step_at"]  # the pause is not counted
        assert (await c.post(f"{DEPLOYMENTS}/shop/rollout/resume")).status_code == 409

        # Rollback: v1 current, the ramp to v2 ended; then there is nothing left to roll back.
        assert (await c.post(f"{DEPLOYMENTS}/shop/rollout/rollback")).status_code == 200
        await runner.tick()
        await runner.tick()
        dep = (await c.get(f"{DEPLOYMENTS}/shop")).json()
        assert (dep["current_version"], dep["ramping_version"]) == ("v1", None)
        assert dep["rollout"]["phase"] == "rolled-back"
        assert dep["rollout"]["reason"] == "rolled back: v1 is current again"
        refused = await c.post(f"{DEPLOYMENTS}/shop/rollout/rollback")
        assert refused.status_code == 409 and "already rolled back" in refused.text
        assert (await c.post(f"{DEPLOYMENTS}/shop/rollout/promote")).status_code == 409

        # A third build promoted at once: current without steps.
        await c.post(f"{DEPLOYMENTS}/shop/versions", json={"build_id": "v3"})
        assert (await c.post(f"{DEPLOYMENTS}/shop/rollout/promote")).status_code == 200
        await runner.tick()
        await runner.tick()
        dep = (await c.get(f"{DEPLOYMENTS}/shop")).json()
        assert dep["current_version"] == "v3" and dep["rollout"]["phase"] == "succeeded"
        assert {v["build_id"]: v["draining"] for v in
                (await c.get(f"{DEPLOYMENTS}/shop/versions")).json()["items"]} == {
            "v1": True, "v2": True, "v3": False,
        }  # fmt: skip


async def test_refusals_name_the_field_and_the_rule(api: Api) -> None:
    reader = generate_token()
    api.store.tokens.add(reader, "reader", scope="read")
    async with api.client() as c:
        await c.post(DEPLOYMENTS, json={"name": "shop"})
        bare = await c.post(f"{DEPLOYMENTS}/shop/versions", json={"build_id": "v1"})
        assert bare.status_code == 400, bare.text
        assert "compute_config is required: 'shop' has no version to copy it from" in bare.text
        bad = await c.post(
            f"{DEPLOYMENTS}/shop/versions",
            json={**V1, "rollout": {"strategy": "progressive", "steps": []}},
        )
        assert bad.status_code == 400 and "at least one step" in bad.text, bad.text
        unknown = await c.post(f"{DEPLOYMENTS}/shop/rollout/skip")
        assert unknown.status_code == 400 and "command" in unknown.text, unknown.text
        await c.post(f"{DEPLOYMENTS}/shop/versions", json=V1)
    async with api.client(reader) as c:
        assert (await c.get(f"{DEPLOYMENTS}/shop/rollout")).status_code == 200
        assert (await c.post(f"{DEPLOYMENTS}/shop/rollout/pause")).status_code == 403
