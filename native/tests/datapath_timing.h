// Stage times of the GPU request path for 1920x1080 RGB at processing resolution 768 (over the test
// engine: its "inference" is not the network's) and of the host pixel path on the same machine.
#pragma once
#include "tests/test_report.h"

namespace lotus::testing {

void runDatapathTiming(Report& report, bool quick);

}  // namespace lotus::testing
