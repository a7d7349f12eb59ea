"""Feast's own client reads `quiver serve`: Feast's Python SDK with
`online_store: type: remote` pointed at Quiver's HTTP server, through
`FeatureStore.get_online_features`, must return exactly what `quiver get`
says for the same ids (a feature list and a feature service, with
`full_feature_names` off and on, ids found and missing).

Usage: feast_reads_quiver.py --url http://127.0.0.1:PORT --repo-dir DIR
       --expected quiver_get.json --ids ID... --missing ID

DIR is an empty folder for Feast's client-side repository: Feast needs the
entity, the feature view and the feature service defined on its side too,
under the same names as Quiver's repository, and applied to its registry.
"""

import argparse
import json
import math
import sys
from datetime import timedelta
from pathlib import Path

from feast import Entity, FeatureService, FeatureStore, FeatureView, Field, FileSource
from feast.protos.feast.serving.ServingService_pb2 import FieldStatus
from feast.types import Float64, Int64
from feast.value_type import ValueType

# The features of Quiver's demo view `energy_features` this check reads,
# and the features of its service `energy_model_v1` (quiver.toml).
FEATURES = {
    "energy_sum": Float64,
    "energy_count": Int64,
    "energy_mean_3months": Float64,
    "energy_count_1yr": Int64,
    "energy_sum_3months": Float64,
    "energy_sum_1yr": Float64,
    "energy_stddev_3months": Float64,
    "energy_max_1yr": Float64,
}
SERVICE = "energy_model_v1"
SERVICE_FEATURES = [
    "energy_sum_3months",
    "energy_sum_1yr",
    "energy_stddev_3months",
    "energy_max_1yr",
]
LIST_FEATURES = ["energy_sum", "energy_count", "energy_mean_3months", "energy_count_1yr"]


def feast_repo(directory: Path, url: str) -> FeatureStore:
    """Feast's client-side repository, applied to its local registry."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "feature_store.yaml").write_text(
        "\n".join(
            [
                "project: energy",
                "provider: local",
                f"registry: {directory / 'registry.db'}",
                "online_store:",
                "  type: remote",
                f"  path: {url}",
                "offline_store:",
                "  type: file",
                "entity_key_serialization_version: 3",
                "",
            ]
        )
    )
    store = FeatureStore(repo_path=str(directory))
    household = Entity(name="household", join_keys=["id"], value_type=ValueType.STRING)
    # Never read: the remote online store asks Quiver for the values.
    source = FileSource(
        name="energy_daily",
        path=str(directory / "unused.parquet"),
        timestamp_field="day_date",
    )
    view = FeatureView(
        name="energy_features",
        entities=[household],
        ttl=timedelta(0),
        schema=[Field(name=name, dtype=dtype) for name, dtype in FEATURES.items()],
        source=source,
        online=True,
    )
    service = FeatureService(name=SERVICE, features=[view[SERVICE_FEATURES]])
    store.apply([household, source, view, service])
    return store


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--repo-dir", required=True, type=Path)
    parser.add_argument("--expected", required=True, type=Path)
    parser.add_argument("--ids", required=True, nargs="+")
    parser.add_argument("--missing", required=True)
    args = parser.parse_args()

    # `quiver get --format json`: one object per id, in the order asked.
    quiver_get = {row["id"]: row for row in json.loads(args.expected.read_text())}
    ids = args.ids + [args.missing]
    assert quiver_get[args.missing]["status"] == "not_found", quiver_get[args.missing]
    for found in args.ids:
        assert quiver_get[found]["status"] == "found", quiver_get[found]

    store = feast_repo(args.repo_dir, args.url)
    rows = [{"id": i} for i in ids]
    failures = []
    checked = 0
    cases = [
        ("feature list", [f"energy_features:{f}" for f in LIST_FEATURES], LIST_FEATURES),
        ("feature service", store.get_feature_service(SERVICE), SERVICE_FEATURES),
    ]
    for label, features, names in cases:
        for full in (False, True):
            response = store.get_online_features(
                features=features, entity_rows=rows, full_feature_names=full
            )
            answer = response.to_dict()
            columns = [f"energy_features__{n}" if full else n for n in names]
            expected_keys = ["id"] + columns
            if sorted(answer) != sorted(expected_keys):
                failures.append(f"{label}, full names {full}: columns {sorted(answer)}, expected {sorted(expected_keys)}")
                continue
            if answer["id"] != ids:
                failures.append(f"{label}, full names {full}: ids {answer['id']}")
            statuses = {
                name: list(result.statuses)
                for name, result in zip(response.proto.metadata.feature_names.val, response.proto.results)
            }
            for name, column in zip(names, columns):
                for row, entity in enumerate(ids):
                    got = answer[column][row]
                    status = statuses[column][row]
                    quiver = quiver_get[entity]
                    if quiver["status"] == "not_found":
                        want, want_status = None, FieldStatus.NOT_FOUND
                    else:
                        want = quiver["features"][name]
                        want_status = FieldStatus.NULL_VALUE if want is None else FieldStatus.PRESENT
                    checked += 1
                    if not same(got, want) or status != want_status:
                        failures.append(
                            f"{label}, full names {full}, {column} of {entity}: Feast read "
                            f"{got!r} ({FieldStatus.Name(status)}), quiver get says {want!r} "
                            f"({FieldStatus.Name(want_status)})"
                        )
    if failures:
        print("Feast's client and quiver get disagree:", *failures, sep="\n  ", file=sys.stderr)
        return 1
    print(f"Feast {__import__('feast').__version__} read {checked} values through quiver serve; all equal quiver get's.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
