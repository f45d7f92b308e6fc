/** What an engine gets when no flag says otherwise: shared by the schema and the flag parser, which must not load the validator. */
export const ENGINE_DEFAULTS = {port: 2376, installUrl: 'auto'} as const
