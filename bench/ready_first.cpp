// Time to ready: a service that says it is ready first thing. `hyperlet run
// --exit-on-ready ready_first` returns at that moment, so its wall time is the
// time from launch to ready; natively the same binary's ready() does nothing
// and the process just ends.
#include <hyperlet/guest.h>

int main() {
  hyperlet::ready();
  return 0;
}
