#include "twin/capture/counters.h"

namespace twin::capture {

void Counters::anomaly(std::string_view kind, uint64_t n) {
  auto it = anomalies.find(kind);
  if (it == anomalies.end()) {
    anomalies.emplace(std::string(kind), n);
  } else {
    it->second += n;
  }
}

uint64_t Counters::anomaly_count(std::string_view kind) const {
  auto it = anomalies.find(kind);
  return it == anomalies.end() ? 0 : it->second;
}

nlohmann::json Counters::to_json() const {
  nlohmann::json j = {
      {"packets", packets},
      {"bytes", bytes},
      {"kernel_received", kernel_received},
      {"kernel_drops", kernel_drops},
      {"interface_drops", interface_drops},
      {"packets_not_tcp", packets_not_tcp},
      {"packets_not_ip", packets_not_ip},
      {"packets_snapped", packets_snapped},
      {"packets_filtered", packets_filtered},
      {"fragments", fragments},
      {"fragments_reassembled", fragments_reassembled},
      {"fragments_expired", fragments_expired},
      {"flows", flows},
      {"flows_midstream", flows_midstream},
      {"flows_not_http", flows_not_http},
      {"flows_unsampled", flows_unsampled},
      {"flows_idle_closed", flows_idle_closed},
      {"flows_evicted", flows_evicted},
      {"segments_out_of_order", segments_out_of_order},
      {"segments_retransmitted", segments_retransmitted},
      {"segments_overlapping", segments_overlapping},
      {"segments_dropped", segments_dropped},
      {"gaps", gaps},
      {"gap_bytes", gap_bytes},
      {"exchanges", exchanges},
      {"exchanges_no_response", exchanges_no_response},
      {"exchanges_gap", exchanges_gap},
      {"bodies_truncated", bodies_truncated},
      {"messages_skipped", messages_skipped},
      {"exchanges_over_limit", exchanges_over_limit},
      {"exchanges_unwritten", exchanges_unwritten},
  };
  nlohmann::json a = nlohmann::json::object();
  for (const auto& [k, v] : anomalies) a[k] = v;
  j["anomalies"] = std::move(a);
  return j;
}

}  // namespace twin::capture
