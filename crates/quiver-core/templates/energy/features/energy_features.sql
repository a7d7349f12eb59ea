-- energy_features: one row per household and day, with trailing windows.
--
-- A window "3months" is the 90 calendar days that end at and include the row's day.
-- Each row sees only its own household's rows dated on or before it: point-in-time
-- correct by construction. Aggregates ignore nulls and stay null when a window has
-- no value.
--
-- Days on which a household has no reading are filled in (`calendar`), so that 90
-- calendar days are exactly 90 rows and the windows can be ROWS frames, which
-- Quiver computes in its own window operator, many times faster than the
-- equivalent RANGE frames over a date (`RANGE BETWEEN INTERVAL '89 days'
-- PRECEDING AND CURRENT ROW`), which DataFusion evaluates row by row
-- (docs/DESIGN.md, "Trailing windows"). Filled-in rows hold only nulls, which aggregates ignore, and
-- are dropped at the end; readings with a missing key or day pass through, so the
-- job reports them.
WITH readings AS (
    SELECT *, CAST(CAST(day AS INT) AS BIGINT) AS day_number, TRUE AS is_reading
    FROM energy_daily
),
calendar AS (
    SELECT household_id, unnest(generate_series(first_day, last_day)) AS day_number
    FROM (
        SELECT household_id, MIN(day_number) AS first_day, MAX(day_number) AS last_day
        FROM readings
        GROUP BY household_id
    )
),
every_day AS (
    SELECT
        COALESCE(c.household_id, r.household_id) AS household,
        COALESCE(c.day_number, r.day_number) AS day_index,
        r.*
    FROM calendar c
    FULL JOIN readings r ON r.household_id = c.household_id AND r.day_number = c.day_number
),
windowed AS (
    SELECT
        household_id AS id,
        day AS day_date,
        is_reading,
        energy_median,
        energy_mean,
        energy_max,
        energy_count,
        energy_std,
        energy_sum,
        energy_min,
        SUM(energy_sum)      OVER last_90_days  AS energy_sum_3months,
        SUM(energy_sum)      OVER last_180_days AS energy_sum_6months,
        SUM(energy_sum)      OVER last_365_days AS energy_sum_1yr,
        SUM(energy_count)    OVER last_90_days  AS energy_count_3months,
        SUM(energy_count)    OVER last_180_days AS energy_count_6months,
        SUM(energy_count)    OVER last_365_days AS energy_count_1yr,
        MAX(energy_max)      OVER last_90_days  AS energy_max_3months,
        MAX(energy_max)      OVER last_180_days AS energy_max_6months,
        MAX(energy_max)      OVER last_365_days AS energy_max_1yr,
        AVG(energy_mean)     OVER last_90_days  AS energy_mean_3months,
        AVG(energy_mean)     OVER last_180_days AS energy_mean_6months,
        AVG(energy_mean)     OVER last_365_days AS energy_mean_1yr,
        STDDEV_SAMP(energy_sum) OVER last_90_days  AS energy_stddev_3months,
        STDDEV_SAMP(energy_sum) OVER last_180_days AS energy_stddev_6months,
        STDDEV_SAMP(energy_sum) OVER last_365_days AS energy_stddev_1yr
    FROM every_day
    WINDOW
        last_90_days  AS (PARTITION BY household ORDER BY day_index ROWS BETWEEN 89  PRECEDING AND CURRENT ROW),
        last_180_days AS (PARTITION BY household ORDER BY day_index ROWS BETWEEN 179 PRECEDING AND CURRENT ROW),
        last_365_days AS (PARTITION BY household ORDER BY day_index ROWS BETWEEN 364 PRECEDING AND CURRENT ROW)
)
SELECT * EXCLUDE (is_reading) FROM windowed WHERE is_reading
