// ServiceAccount facts both sides need: the API server (TokenRequest, admission, the root CA
// publisher) and the node (the projected serviceAccountToken source).

/** the ConfigMap with the cluster CA every namespace gets (key ca.crt) */
export const ROOT_CA_CONFIGMAP = 'kube-root-ca.crt';
/** a TokenRequest's lifetime when it names none, and the shortest one allowed (seconds) */
export const TOKEN_DEFAULT_EXPIRATION_S = 3600;
export const TOKEN_MIN_EXPIRATION_S = 600;
