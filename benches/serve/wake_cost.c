/* What one sleep and wake-up costs on this machine, in CPU time.
 *
 * Arms a timerfd 50 us ahead and blocks on it, 100,000 times: the interval
 * of a 20,000 requests/s open loop. Mode 0 re-arms a one-shot timer each
 * time, as a pacer does; mode 1 arms one periodic timer.
 *
 *   cc -O2 benches/serve/wake_cost.c -o /tmp/wake_cost
 *   perf stat -e task-clock,context-switches /tmp/wake_cost 0
 *
 * task-clock / 100,000 is the CPU cost of a wake-up (see docs/BENCHMARKS.md,
 * "Why the open-loop target is out of reach here").
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  const int periodic = argc > 1 ? atoi(argv[1]) : 0;
  const long wakeups = 100000, period_ns = 50000;
  int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
  if (fd < 0) {
    perror("timerfd_create");
    return 1;
  }
  struct itimerspec timer = {0};
  timer.it_value.tv_nsec = period_ns;
  if (periodic) {
    timer.it_interval.tv_nsec = period_ns;
    timerfd_settime(fd, 0, &timer, NULL);
  }
  long expired = 0;
  while (expired < wakeups) {
    if (!periodic && timerfd_settime(fd, 0, &timer, NULL) != 0) {
      perror("timerfd_settime");
      return 1;
    }
    uint64_t count;
    if (read(fd, &count, sizeof count) != sizeof count) {
      perror("read");
      return 1;
    }
    expired += (long)count;
  }
  return 0;
}
