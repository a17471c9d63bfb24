/* The smallest useful program: one line through musl's stdio. */
#include <stdio.h>

int main(void) {
  puts("hello from musl");
  return 0;
}
