-- energy_features: one row per household and day, with trailing windows.
--
-- A window "3months" is the 90 calendar days that end at and include the row's day
-- (RANGE over the date, so gaps in the days are respected). Each row sees only its
-- own household's rows dated on or before it: point-in-time correct by construction.
-- Aggregates ignore nulls and stay null when a window has no value.
SELECT
    household_id AS id,
    day AS day_date,
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
FROM energy_daily
WINDOW
    last_90_days  AS (PARTITION BY household_id ORDER BY day RANGE BETWEEN INTERVAL '89 days'  PRECEDING AND CURRENT ROW),
    last_180_days AS (PARTITION BY household_id ORDER BY day RANGE BETWEEN INTERVAL '179 days' PRECEDING AND CURRENT ROW),
    last_365_days AS (PARTITION BY household_id ORDER BY day RANGE BETWEEN INTERVAL '364 days' PRECEDING AND CURRENT ROW)
