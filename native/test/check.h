// A minimal test harness for the engines' C++ tests: TEST(name) registers a case, CHECK/CHECK_EQ
// report the first failure of a case with file:line and go on to the next case; main() runs them all
// and exits non-zero when any failed. Each *_test.cc is one executable run by ctest.
#pragma once

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace check {

struct Case {
  const char* name;
  std::function<void()> fn;
};

inline std::vector<Case>& Registry() {
  static std::vector<Case> cases;
  return cases;
}

struct Failure {
  std::string message;
};

struct Register {
  Register(const char* name, std::function<void()> fn) { Registry().push_back({name, std::move(fn)}); }
};

}  // namespace check

#define CHECK_CONCAT_(a, b) a##b
#define CHECK_CONCAT(a, b) CHECK_CONCAT_(a, b)
#define TEST(name)                                                          \
  static void name();                                                       \
  static check::Register CHECK_CONCAT(register_, name)(#name, name);        \
  static void name()

#define CHECK(cond)                                                                        \
  do {                                                                                     \
    if (!(cond))                                                                           \
      throw check::Failure{std::string(__FILE__) + ":" + std::to_string(__LINE__) + ": " + #cond}; \
  } while (0)

#define CHECK_EQ(a, b)                                                                     \
  do {                                                                                     \
    auto va_ = (a);                                                                        \
    auto vb_ = (b);                                                                        \
    if (!(va_ == vb_))                                                                     \
      throw check::Failure{std::string(__FILE__) + ":" + std::to_string(__LINE__) + ": " + #a " == " #b \
                           " (" + std::to_string(va_) + " vs " + std::to_string(vb_) + ")"};  \
  } while (0)

int main() {
  int failed = 0;
  for (const auto& c : check::Registry()) {
    try {
      c.fn();
      std::printf("ok - %s\n", c.name);
    } catch (const check::Failure& f) {
      ++failed;
      std::printf("not ok - %s\n  %s\n", c.name, f.message.c_str());
    }
  }
  std::printf("%zu passed, %d failed\n", check::Registry().size() - failed, failed);
  return failed == 0 ? 0 : 1;
}
