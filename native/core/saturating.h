// Counters that live as long as a server process: they stop at their maximum instead of overflowing
// (signed overflow is undefined behaviour; a wrapped counter would also read as "never ran").
#pragma once
#include <limits>

namespace lotus {

template <typename T>
constexpr void saturatingIncrement(T& value) {
  if (value < std::numeric_limits<T>::max()) ++value;
}

}  // namespace lotus
