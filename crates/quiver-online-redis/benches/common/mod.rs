//! What the benches share: the demo's rows, the two value layouts being
//! compared (one packed value per entity, or a hash with a field per
//! feature), a reader of each, and a connection to the test Redis.
#![allow(dead_code, reason = "each bench uses its own part")]

use quiver_core::ValueType;
use quiver_online::{EntityRow, FeatureRow, FeatureValue, ViewLayout, codec};
use redis::Value;
use redis::aio::MultiplexedConnection;
use std::collections::HashMap;

pub const HOUSEHOLDS: usize = 5_560;
pub const FEATURES: usize = 22;
const EVENT_TIME: i64 = 1_393_545_600_000_000;

/// The Redis the benches use, as the integration tests do.
pub fn url() -> String {
    std::env::var("QUIVER_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:16379".into())
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A connection with TCP_NODELAY, as the store's, so raw commands and the
/// store send small requests alike.
pub fn connect(runtime: &tokio::runtime::Runtime) -> MultiplexedConnection {
    let url = url();
    let info = redis::IntoConnectionInfo::into_connection_info(url.as_str())
        .unwrap()
        .set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
    runtime
        .block_on(async {
            redis::Client::open(info)?
                .get_multiplexed_async_connection()
                .await
        })
        .unwrap_or_else(|e| panic!("no Redis at {url} ({e}); start it with scripts/services/up.sh"))
}

/// The demo view's layout: 22 float features.
pub fn layout(view: &str) -> ViewLayout {
    ViewLayout {
        view: view.to_string(),
        entity_key: "id".to_string(),
        event_time: "day_date".to_string(),
        features: (0..FEATURES)
            .map(|i| (format!("feature_{i}"), ValueType::Float64))
            .collect(),
    }
}

/// `count` households' rows, `MAC000002` onwards.
pub fn rows(count: usize) -> Vec<EntityRow> {
    (0..count)
        .map(|i| EntityRow {
            key: format!("MAC{:06}", i + 2),
            row: FeatureRow {
                event_time_micros: EVENT_TIME,
                values: (0..FEATURES)
                    .map(|f| FeatureValue::Float64((i * FEATURES + f) as f64 * 0.001))
                    .collect(),
            },
        })
        .collect()
}

/// The ids of a batch of `n`, spread over the households and different
/// from round to round.
pub fn batch(ids: &[String], n: usize, round: usize) -> Vec<&str> {
    (0..n)
        .map(|i| ids[(round * 7_919 + i * 53) % ids.len()].as_str())
        .collect()
}

/// The hash layout: field `t` is the event time, `f0`..`f21` the features,
/// each as 8 little-endian bytes (the codec's per-value encoding without its
/// tag, which a hash would keep in the layout instead).
fn hash_fields(row: &FeatureRow) -> Vec<(String, Vec<u8>)> {
    let mut fields = vec![(
        "t".to_string(),
        row.event_time_micros.to_le_bytes().to_vec(),
    )];
    for (i, value) in row.values.iter().enumerate() {
        let FeatureValue::Float64(v) = value else {
            unreachable!("the demo's features are floats")
        };
        fields.push((format!("f{i}"), v.to_le_bytes().to_vec()));
    }
    fields
}

fn decode_hash(values: &[Value]) -> Option<FeatureRow> {
    let bytes = |v: &Value| match v {
        Value::BulkString(b) => Some(<[u8; 8]>::try_from(b.as_slice()).unwrap()),
        Value::Nil => None,
        other => panic!("{other:?}"),
    };
    let event_time_micros = i64::from_le_bytes(bytes(&values[0])?);
    let values = values[1..]
        .iter()
        .map(|v| {
            bytes(v).map_or(FeatureValue::Null, |b| {
                FeatureValue::Float64(f64::from_le_bytes(b))
            })
        })
        .collect();
    Some(FeatureRow {
        event_time_micros,
        values,
    })
}

fn decode_packed(value: &Value) -> Option<FeatureRow> {
    match value {
        Value::BulkString(b) => Some(codec::decode(b).unwrap()),
        Value::Nil => None,
        other => panic!("{other:?}"),
    }
}

/// The demo's rows stored both ways under one key prefix.
pub struct Layouts {
    pub runtime: tokio::runtime::Runtime,
    pub connection: MultiplexedConnection,
    prefix: String,
    pub ids: Vec<String>,
    field_names: Vec<String>,
}

/// The ways of reading a batch being compared.
#[derive(Debug, Clone, Copy)]
pub enum Read {
    /// Packed values, one MGET.
    PackedMget,
    /// Packed values, one GET per id in a pipeline.
    PackedGets,
    /// Hashes, one HMGET of every field per id in a pipeline.
    HashHmget,
    /// Hashes, one HGETALL per id in a pipeline.
    HashHgetall,
}

impl Read {
    pub const ALL: [Read; 4] = [
        Read::PackedMget,
        Read::PackedGets,
        Read::HashHmget,
        Read::HashHgetall,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Read::PackedMget => "packed_mget",
            Read::PackedGets => "packed_get_pipelined",
            Read::HashHmget => "hash_hmget_pipelined",
            Read::HashHgetall => "hash_hgetall_pipelined",
        }
    }
}

impl Layouts {
    /// Stores the demo's rows both ways.
    pub fn load() -> Layouts {
        let runtime = runtime();
        let connection = connect(&runtime);
        let rows = rows(HOUSEHOLDS);
        let layouts = Layouts {
            runtime,
            connection,
            prefix: format!("quiver-bench-layouts-{}", std::process::id()),
            ids: rows.iter().map(|r| r.key.clone()).collect(),
            field_names: std::iter::once("t".to_string())
                .chain((0..FEATURES).map(|i| format!("f{i}")))
                .collect(),
        };
        for chunk in rows.chunks(500) {
            let mut pipe = redis::pipe();
            for row in chunk {
                pipe.cmd("SET")
                    .arg(layouts.packed_key(&row.key))
                    .arg(codec::encode(&row.row))
                    .ignore();
                let hset = pipe.cmd("HSET").arg(layouts.hash_key(&row.key));
                for (field, value) in hash_fields(&row.row) {
                    hset.arg(field).arg(value);
                }
                hset.ignore();
            }
            layouts.query::<()>(&pipe);
        }
        layouts
    }

    fn packed_key(&self, id: &str) -> String {
        format!("{}:packed:1:{{{id}}}", self.prefix)
    }

    fn hash_key(&self, id: &str) -> String {
        format!("{}:hash:1:{{{id}}}", self.prefix)
    }

    fn query<T: redis::FromRedisValue>(&self, pipe: &redis::Pipeline) -> T {
        let mut c = self.connection.clone();
        self.runtime
            .block_on(async move { pipe.query_async(&mut c).await })
            .unwrap()
    }

    /// Reads `ids` the way `read` says, decoded into rows; one round trip.
    pub fn read(&self, read: Read, ids: &[&str]) -> Vec<Option<FeatureRow>> {
        let mut pipe = redis::pipe();
        let rows: Vec<_> = match read {
            Read::PackedMget => {
                let mget = pipe.cmd("MGET");
                for id in ids {
                    mget.arg(self.packed_key(id));
                }
                let (values,): (Vec<Value>,) = self.query(&pipe);
                values.iter().map(decode_packed).collect()
            }
            Read::PackedGets => {
                for id in ids {
                    pipe.cmd("GET").arg(self.packed_key(id));
                }
                let values: Vec<Value> = self.query(&pipe);
                values.iter().map(decode_packed).collect()
            }
            Read::HashHmget => {
                for id in ids {
                    pipe.cmd("HMGET")
                        .arg(self.hash_key(id))
                        .arg(&self.field_names);
                }
                let values: Vec<Vec<Value>> = self.query(&pipe);
                values.iter().map(|v| decode_hash(v)).collect()
            }
            Read::HashHgetall => {
                for id in ids {
                    pipe.cmd("HGETALL").arg(self.hash_key(id));
                }
                let values: Vec<HashMap<String, Vec<u8>>> = self.query(&pipe);
                values
                    .into_iter()
                    .map(|mut fields| {
                        let ordered: Vec<Value> = self
                            .field_names
                            .iter()
                            .map(|name| Value::BulkString(fields.remove(name).unwrap()))
                            .collect();
                        decode_hash(&ordered)
                    })
                    .collect()
            }
        };
        assert!(rows.iter().all(Option::is_some), "{read:?} missed rows");
        rows
    }

    pub fn cleanup(&self) {
        drop_prefix(&self.runtime, &self.prefix);
    }
}

/// Unlinks every key under `prefix`.
pub fn drop_prefix(runtime: &tokio::runtime::Runtime, prefix: &str) {
    let mut c = connect(runtime);
    runtime.block_on(async move {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}:*"))
            .query_async(&mut c)
            .await
            .unwrap();
        for chunk in keys.chunks(1_000) {
            let _: () = redis::cmd("UNLINK")
                .arg(chunk)
                .query_async(&mut c)
                .await
                .unwrap();
        }
    });
}
