

def test_coverage_families_group_numbers_and_objects_by_feature():
    """A case counts in "base" or in each feature's row and its combination's; thresholds and functions do
    not make rows of their own (clip by its convention, proj_clip and activations by name)."""
    from lstm_conformance.report.tables import families

    fn = {"name": "Relu", "alpha": 0, "beta": 0}
    acts = {"gate": {"name": "HardSigmoid", "alpha": 0.2, "beta": 0.5}, "cell_input": fn, "cell_output": fn}
    assert families({}) == ["base"]
    assert families({"peephole": True}) == ["peephole=true"]
    assert families({"clip": {"convention": "cell_state", "threshold": 0.6}, "proj_size": 3, "proj_clip": 0.4}) == [
        "clip=cell_state", "proj_clip", "proj_size=3", "clip=cell_state, proj_clip, proj_size=3"]
    assert families({"activations": acts}) == ["activations"]
    assert families({"direction": "bidirectional", "activations": [acts, {**acts, "cell_input": acts["gate"]}]}) == [
        "activations per run", "direction=bidirectional", "activations per run, direction=bidirectional"]
