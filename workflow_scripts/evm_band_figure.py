"""Rule evm_band_figure: the EVM conditions' temporal bands against the amplitude spectrum of the
dataset's micro-expression profiles (index onset/apex/offset and fps), with the `me` preset."""
from mexflow.datasets.index import load_index
from mexflow.magnify.conditions import parse_condition
from mexflow.magnify.evm_band import band_figure
from mexflow.workflow_support import setup

log = setup(snakemake)  # noqa: F821
index = load_index(snakemake.input.index)
specs = [parse_condition(name, spec, index=index) for name, spec in snakemake.params.conditions.items()]
if not any(s.band is not None for s in specs):  # the me preset beside the configured bands
    base = dict(next(iter(snakemake.params.conditions.values())))
    for key in ("r1", "r2", "low_hz", "high_hz", "temporal"):
        base.pop(key, None)
    specs.append(parse_condition("preset me", {**base, "preset": "me"}, index=index))
gains = band_figure(index, specs, snakemake.output[0], title=snakemake.wildcards.dataset)
for name, gain in gains.items():
    log.info("%s: median predicted EVM gain along the ME profiles %.3f", name, gain)
