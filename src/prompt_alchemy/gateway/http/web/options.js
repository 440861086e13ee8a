// The choices the API's schema offers (GenerateRequest, SearchFilters), as the forms show them.
export const PHASES = [
  ["prima-materia", "Prima materia (explore)"],
  ["solutio", "Solutio (make it natural)"],
  ["coagulatio", "Coagulatio (make it precise)"],
];

export const PERSONAS = [
  ["generic", "Generic"],
  ["code", "Code"],
  ["writing", "Writing"],
  ["analysis", "Analysis"],
];

export function phaseLabel(phase) {
  return (PHASES.find(([value]) => value === phase) || [phase, phase])[1];
}

export async function providerOptions(api) {
  const reply = await api.get("/api/v1/providers");
  return reply.providers.map((p) => [p.name, `${p.name}${p.available ? "" : " (unavailable)"}`]);
}
