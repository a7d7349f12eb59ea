"""Shared SparkSession factory: local[2] + Delta Lake (jars from Maven Central via ivy)."""
import os

from delta import configure_spark_with_delta_pip
from pyspark.sql import SparkSession


def make_spark(app_name: str, driver_memory: str = "4g", shuffle_partitions: int = 8,
               master: str = "local[2]") -> SparkSession:
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # Spark stays on loopback
    builder = (
        SparkSession.builder.appName(app_name)
        .master(master)
        .config("spark.driver.memory", driver_memory)
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog",
                "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
    )
    # Adds spark.jars.packages=io.delta:delta-spark_2.12:<delta-spark version>
    # (resolved from Maven Central on first use, cached under ~/.ivy2).
    spark = configure_spark_with_delta_pip(builder).getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark
