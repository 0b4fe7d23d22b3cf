"""Per-rule params: each rule gets exactly the config keys its step reads, in a canonical form.

The end-to-end check (a changed option reruns only the jobs that use it, on a finished run) is in
test_workflow.py; these are the fast checks of the table itself.
"""

import ast
import copy
import inspect
import re
import textwrap

import pytest
import yaml

from neuroopt.pipeline import get_step
from neuroopt.pipeline.params import RULE_CONFIG, canonical, rule_params

from conftest import REPO_ROOT

DEFAULT = yaml.safe_load((REPO_ROOT / "config" / "config.yaml").read_text())


def _reversed(value):
    if isinstance(value, dict):
        return {k: _reversed(value[k]) for k in reversed(list(value))}
    return value


def _set(config, path, value):
    config = copy.deepcopy(config)
    node = config
    *parents, last = path.split(".")
    for part in parents:
        node = node[part]
    node[last] = value
    return config


def _rules_whose_params_change(path, value):
    changed = _set(DEFAULT, path, value)
    return {rule for rule in RULE_CONFIG if repr(rule_params(DEFAULT, rule)) != repr(rule_params(changed, rule))}


@pytest.mark.parametrize(
    "path, value, rules",
    [
        ("meeg.epochs.tmax", 0.4, {"meeg_epochs"}),
        ("meeg.l_freq", 1.0, {"meeg_preprocess"}),
        ("decoding.n_permutations", 100, {"group_decoding", "group_fmri_decoding"}),
        ("decoding.scoring", "balanced_accuracy", {"meeg_decoding", "fmri_decoding"}),
        ("rsa.n_bootstrap", 10, {"group_rsa"}),
        ("rsa.noise", "diag", {"meeg_rsa", "fmri_rsa"}),
        ("sparse.depth", 0.5, {"meeg_sparse"}),
        ("sparse.selection", "none", {"meeg_sparse"}),
        ("r1glm.hrf_length", 30.0, {"fmri_r1glm"}),
        ("fmri.smoothing_fwhm", 6.0, {"fmri_clean"}),
        ("glm.alpha", 0.01, {"fmri_glm_contrast", "group_glm_contrast"}),
        ("seed", 1, {"meeg_preprocess", "meeg_sparse", "group_decoding", "group_rsa", "group_fmri_decoding"}),
        # read by the plan only (which jobs exist), in no rule's params
        ("subjects", ["01"], set()),
        ("decoding.contrasts", [["a", "b"]], set()),
    ],
)
def test_an_option_changes_the_params_of_the_rules_that_use_it(path, value, rules):
    assert _rules_whose_params_change(path, value) == rules


def test_key_order_does_not_change_any_params():
    shuffled = yaml.safe_load(yaml.safe_dump(_reversed(DEFAULT), sort_keys=False))
    assert list(shuffled) != list(DEFAULT)
    for rule in RULE_CONFIG:
        assert repr(rule_params(shuffled, rule)) == repr(rule_params(DEFAULT, rule)), rule


def test_canonical_sorts_nested_mappings_only():
    assert repr(canonical({"b": {"y": 1, "x": [{"d": 0, "c": 1}]}, "a": 2})) == repr(
        {"a": 2, "b": {"x": [{"c": 1, "d": 0}], "y": 1}}
    )


def test_unknown_rule_or_key_is_named():
    with pytest.raises(KeyError, match="no entry in neuroopt.pipeline.params.RULE_CONFIG"):
        rule_params(DEFAULT, "no_such_rule")
    broken = copy.deepcopy(DEFAULT)
    del broken["meeg"]["epochs"]
    with pytest.raises(KeyError, match="'meeg.epochs'"):
        rule_params(broken, "meeg_epochs")


def _cfg_reads(function):
    """Key paths (tuples) a step reads from ``params.cfg``: ``cfg["a"]["b"]`` and through aliases
    such as ``epo_cfg = cfg["epochs"]`` (string subscripts only)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    aliases = {}

    def chain(node):
        keys = []
        while isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
            keys.append(node.slice.value)
            node = node.value
        if isinstance(node, ast.Attribute) and node.attr == "cfg" and isinstance(node.value, ast.Name) and node.value.id == "params":
            return tuple(reversed(keys))
        if isinstance(node, ast.Name) and node.id in aliases:
            return aliases[node.id] + tuple(reversed(keys))
        return None

    for node in ast.walk(tree):  # aliases first (assignments precede their use in these steps)
        if isinstance(node, ast.Assign):
            targets, values = node.targets[0], node.value
            pairs = zip(targets.elts, values.elts) if isinstance(targets, ast.Tuple) and isinstance(values, ast.Tuple) else [(targets, values)]
            for target, value in pairs:
                path = chain(value)
                if isinstance(target, ast.Name) and path is not None:
                    aliases[target.id] = path
    reads = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript):
            path = chain(node)
            if path:
                reads.add(path)
    return reads, "params.seed" in ast.unparse(tree)


def _rules_in_workflow():
    """rule name -> the text of its block, for every rule of workflows/*.smk."""
    rules = {}
    for smk in sorted((REPO_ROOT / "workflows").glob("*.smk")):
        blocks = re.split(r"^(?=\s*rule \w+:)", smk.read_text(), flags=re.M)
        for block in blocks:
            match = re.match(r"\s*rule (\w+):", block)
            if match:
                rules[match.group(1)] = block
    return rules


def test_every_rule_gets_the_keys_its_step_reads():
    rules = _rules_in_workflow()
    assert set(RULE_CONFIG) <= set(rules), f"entries of RULE_CONFIG without a rule: {set(RULE_CONFIG) - set(rules)}"
    for rule, block in rules.items():
        try:
            step = get_step(rule)
        except KeyError:
            continue  # a rule without a step (e.g. `all`)
        reads, uses_seed = _cfg_reads(step)
        if not reads and not uses_seed:
            continue
        assert rule in RULE_CONFIG, f"the step of rule {rule} reads params.cfg {sorted(reads)}: add the rule to RULE_CONFIG"
        assert f'rule_params(config, "{rule}")' in block, f"rule {rule}: params must be **rule_params(config, {rule!r})"
        params = rule_params(DEFAULT, rule)
        for path in reads:
            node = params["cfg"]
            for i, key in enumerate(path):
                assert isinstance(node, dict) and key in node, (
                    f"the step of {rule} reads cfg{''.join(f'[{k!r}]' for k in path)}, not in RULE_CONFIG[{rule!r}]"
                )
                node = node[key]
        assert uses_seed == ("seed" in params), f"rule {rule}: the step {'reads' if uses_seed else 'does not read'} params.seed"
