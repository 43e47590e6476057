// The MHD flows driven by fhir-kit-client (npm), a FHIR client written by others.
// Run by tests/fhir/test_npm_client.py against a live server:
//   MHD_BASE_URL     the FHIR base, e.g. http://127.0.0.1:8123/fhir
//   MHD_TOKEN        a Bearer access token
//   MHD_PATIENT_ID   Patient.id
//   MHD_BUNDLE_FILE  optional: an ITI-65 transaction Bundle (JSON) to provide first
// Prints one JSON object on stdout: what each step returned, or, at the first
// refusal, `error` with the step, the HTTP status and the OperationOutcome the
// client's error carries. Exits 0 in both cases (non-zero only on a crash).
import { readFileSync } from 'node:fs';
import { Client } from 'fhir-kit-client';

const { MHD_BASE_URL: baseUrl, MHD_TOKEN: bearerToken, MHD_PATIENT_ID: patientId, MHD_BUNDLE_FILE: bundleFile } =
  process.env;
if (!baseUrl || !bearerToken || !patientId) {
  console.error('MHD_BASE_URL, MHD_TOKEN and MHD_PATIENT_ID are required');
  process.exit(2);
}

const client = new Client({ baseUrl, bearerToken });
const out = {};
let step = '';

try {
  if (bundleFile) {
    step = 'ITI-65';
    const bundle = JSON.parse(readFileSync(bundleFile, 'utf8'));
    const response = await client.transaction({ body: bundle });
    out.provide = {
      resourceType: response.resourceType,
      type: response.type,
      locations: (response.entry ?? []).map((entry) => entry.response?.location),
    };
  }

  step = 'ITI-67';
  const references = await client.search({
    resourceType: 'DocumentReference',
    searchParams: { patient: `Patient/${patientId}` },
  });
  out.documents = {
    total: references.total,
    ids: (references.entry ?? []).map((entry) => entry.resource.id),
    sizes: (references.entry ?? []).map((entry) => entry.resource.content?.[0]?.attachment?.size),
  };

  step = 'ITI-68';
  if (out.documents.ids.length > 0) {
    const binary = await client.read({ resourceType: 'Binary', id: out.documents.ids[0] });
    out.binary = {
      id: binary.id,
      contentType: binary.contentType,
      size: Buffer.from(binary.data ?? '', 'base64').length,
    };
  }

  step = 'ITI-66';
  const lists = await client.search({ resourceType: 'List', searchParams: { patient: `Patient/${patientId}` } });
  out.lists = {
    total: lists.total,
    ids: (lists.entry ?? []).map((entry) => entry.resource.id),
    items: (lists.entry ?? []).map((entry) => (entry.resource.entry ?? []).map((item) => item.item?.reference)),
  };
} catch (error) {
  if (!error.response) throw error; // not an HTTP answer: let it crash
  out.error = { step, status: error.response.status, outcome: error.response.data };
}

console.log(JSON.stringify(out));
