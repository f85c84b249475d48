// Baseline: a TU that includes only nlohmann/json (every hwcal TU pays it).
#include <nlohmann/json.hpp>
int main() { return nlohmann::json::parse("1").get<int>(); }
