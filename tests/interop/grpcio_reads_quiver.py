"""Python grpcio reads `quiver serve`: both answers of the serving service,
Feast's shape (`GetOnlineFeatures`, a `Value` per cell) and the columnar one
(`GetOnlineFeaturesColumnar`, which Quiver writes as bytes without prost),
decoded by grpcio's own protobuf runtime, must name the same columns, agree
cell by cell (status, value, event time) and hold what `quiver get` says for
the same ids: for every feature of the view with short names, and for the
feature service with full names, ids found and missing.

Usage: grpcio_reads_quiver.py --target HOST:PORT --quiver-toml quiver.toml
       --expected quiver_get.json --ids ID... --missing ID

Run with PYTHONPATH holding the modules grpc_tools.protoc generated from
proto/quiver/serving/v1/serving.proto.
"""

import argparse
import json
import sys
import tomllib
from datetime import datetime

import grpc
from quiver.serving.v1 import serving_pb2 as pb
from quiver.serving.v1 import serving_pb2_grpc as rpc

VIEW = "energy_features"
SERVICE = "energy_model_v1"
ARRAYS = {
    pb.INT64: "int64_values",
    pb.DOUBLE: "double_values",
    pb.BOOL: "bool_values",
    pb.STRING: "string_values",
    pb.DATE: "date_values",
    pb.UNIX_TIMESTAMP: "unix_timestamp_micros_values",
}


def micros(timestamp):
    return timestamp.seconds * 1_000_000 + timestamp.nanos // 1_000


def check(stub, request, expected_names, expected, ids, missing):
    """Calls both RPCs with `request` and checks them against each other and
    against `expected` (`quiver get`'s rows by id). Returns the cells checked."""
    feast = stub.GetOnlineFeatures(request)
    columnar = stub.GetOnlineFeaturesColumnar(request)
    names = list(columnar.feature_names)
    assert names == list(feast.metadata.feature_names.val), (names, feast.metadata)
    assert names == ["id"] + expected_names, names
    assert len(columnar.columns) == len(names) == len(feast.results)
    rows = ids + [missing]
    key = columnar.columns[0]
    assert key.type == pb.STRING and list(key.string_values) == rows, key
    assert list(key.statuses) == [pb.PRESENT] * len(rows)
    cells = 0
    for name, column, vector in zip(names[1:], columnar.columns[1:], feast.results[1:]):
        values = getattr(column, ARRAYS[column.type])
        assert len(values) == len(rows) == len(column.statuses), name
        assert len(column.event_timestamps_micros) == len(rows), name
        feature = name.split("__", 1)[-1]
        for row, entity in enumerate(rows):
            status = column.statuses[row]
            assert status == vector.statuses[row], (name, entity, status, vector.statuses[row])
            time = column.event_timestamps_micros[row]
            if entity == missing:
                assert status == pb.NOT_FOUND, (name, entity, status)
                assert time == 0, (name, entity, time)
                continue
            assert status == pb.PRESENT, (name, entity, status)
            value = vector.values[row]
            assert getattr(value, value.WhichOneof("val")) == values[row], (name, entity)
            assert values[row] == expected[entity]["features"][feature], (
                name, entity, values[row], expected[entity]["features"][feature])
            assert time == micros(vector.event_timestamps[row]), (name, entity)
            day = datetime.fromisoformat(expected[entity]["day_date"].replace("Z", "+00:00"))
            assert time == int(day.timestamp()) * 1_000_000, (name, entity, time, day)
            cells += 1
    return cells


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True)
    parser.add_argument("--quiver-toml", required=True)
    parser.add_argument("--expected", required=True)
    parser.add_argument("--ids", nargs="+", required=True)
    parser.add_argument("--missing", required=True)
    args = parser.parse_args()

    definitions = tomllib.load(open(args.quiver_toml, "rb"))
    view_features = list(definitions["feature_views"][VIEW]["features"])
    service_features = [
        reference.split(":", 1)[1]
        for reference in definitions["feature_services"][SERVICE]["features"]
    ]
    expected = {row["id"]: row for row in json.load(open(args.expected)) if row["status"] == "found"}
    assert sorted(expected) == sorted(args.ids), expected.keys()

    stub = rpc.ServingServiceStub(grpc.insecure_channel(args.target))

    def request(**selection):
        message = pb.GetOnlineFeaturesRequest(include_event_timestamps=True, **selection)
        for entity in args.ids + [args.missing]:
            message.entities["id"].val.add(string_val=entity)
        return message

    cells = check(
        stub,
        request(features=pb.FeatureList(val=[f"{VIEW}:{f}" for f in view_features])),
        view_features,
        expected,
        args.ids,
        args.missing,
    )
    cells += check(
        stub,
        request(feature_service=SERVICE, full_feature_names=True),
        [f"{VIEW}__{f}" for f in service_features],
        expected,
        args.ids,
        args.missing,
    )
    # A refused request fails alike on both.
    bad = request(features=pb.FeatureList(val=[f"{VIEW}:no_such_feature"]))
    codes = []
    for call in (stub.GetOnlineFeatures, stub.GetOnlineFeaturesColumnar):
        try:
            call(bad)
            raise AssertionError("an unknown feature was answered")
        except grpc.RpcError as error:
            codes.append((error.code(), error.details()))
    assert codes[0] == codes[1] and codes[0][0] == grpc.StatusCode.NOT_FOUND, codes
    print(f"grpcio {grpc.__version__} read {cells} cells through both answers; "
          f"each equals quiver get's; an unknown feature is {codes[0][0].name} on both")


if __name__ == "__main__":
    sys.exit(main())
