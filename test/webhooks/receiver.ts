export * from '../support/receiver';
