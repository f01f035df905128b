"""The run's own logic: what an AgentRun's record says and what it still needs.

A transition decides on a read-only ``RunView`` and returns an ``Outcome``;
``step.advance`` commits it (status and journal together) and ``needs`` says
which events the stored run still waits for, with ids that follow from its state.
"""
