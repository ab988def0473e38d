{
  prometheusAlerts+:: { groups+: [] },
}
